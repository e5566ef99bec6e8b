package server

import (
	"context"
	"strings"
	"testing"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func TestAliases(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(t), h.createKey(t)
	if _, err := h.client.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/svc", TargetKeyId: a.GetArn()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, target, want string
	}{
		{"alias/svc", a.GetKeyId(), excAlreadyExists},
		{"svc", a.GetKeyId(), excValidation},
		{"alias/", a.GetKeyId(), excValidation},
		{"alias/has space", a.GetKeyId(), excValidation},
		{"alias/aws/ebs", a.GetKeyId(), excInvalidAlias},
		{"alias/" + strings.Repeat("x", 251), a.GetKeyId(), excValidation},
		{"alias/other", "alias/svc", excNotFound},
		{"alias/other", "22222222-2222-4222-8222-222222222222", excNotFound},
	} {
		_, err := h.client.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: c.name, TargetKeyId: c.target})
		wantException(t, err, c.want)
	}
	if _, err := h.client.UpdateAlias(ctx, &kmsv1.UpdateAliasRequest{AliasName: "alias/svc", TargetKeyId: b.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	d, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: "alias/svc"})
	if err != nil || d.GetKeyMetadata().GetKeyId() != b.GetKeyId() {
		t.Fatalf("alias/svc resolves to %v (%v), want %s", d.GetKeyMetadata().GetKeyId(), err, b.GetKeyId())
	}
	_, err = h.client.UpdateAlias(ctx, &kmsv1.UpdateAliasRequest{AliasName: "alias/none", TargetKeyId: b.GetKeyId()})
	wantException(t, err, excNotFound)
	if _, err := h.client.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/second", TargetKeyId: a.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	all, err := h.client.ListAliases(ctx, &kmsv1.ListAliasesRequest{})
	if err != nil || len(all.GetAliases()) != 2 {
		t.Fatalf("ListAliases: %d aliases, %v", len(all.GetAliases()), err)
	}
	ofA, err := h.client.ListAliases(ctx, &kmsv1.ListAliasesRequest{KeyId: a.GetKeyId()})
	if err != nil || len(ofA.GetAliases()) != 1 || ofA.GetAliases()[0].GetAliasName() != "alias/second" ||
		ofA.GetAliases()[0].GetAliasArn() != "arn:aws:kms:us-east-1:111122223333:alias/second" {
		t.Fatalf("ListAliases(KeyId=a) = %v, %v", ofA.GetAliases(), err)
	}
	if _, err := h.client.DeleteAlias(ctx, &kmsv1.DeleteAliasRequest{AliasName: "alias/svc"}); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.DeleteAlias(ctx, &kmsv1.DeleteAliasRequest{AliasName: "alias/svc"})
	wantException(t, err, excNotFound)
	if _, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: b.GetKeyId()}); err != nil {
		t.Fatalf("deleting an alias affected its key: %v", err)
	}
	// Management operations take a key id or ARN, never an alias.
	_, err = h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: "alias/second"})
	wantException(t, err, excNotFound)
}

func TestTags(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	var tags []*kmsv1.Tag
	for _, k := range []string{"e", "b", "d", "a", "c"} {
		tags = append(tags, &kmsv1.Tag{TagKey: k, TagValue: "v" + k})
	}
	if _, err := h.client.TagResource(ctx, &kmsv1.TagResourceRequest{KeyId: id, Tags: tags}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.TagResource(ctx, &kmsv1.TagResourceRequest{KeyId: id, Tags: []*kmsv1.Tag{{TagKey: "a", TagValue: "new"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.UntagResource(ctx, &kmsv1.UntagResourceRequest{KeyId: id, TagKeys: []string{"c", "zz"}}); err != nil {
		t.Fatal(err)
	}
	var got []string
	marker := ""
	for {
		resp, err := h.client.ListResourceTags(ctx, &kmsv1.ListResourceTagsRequest{KeyId: id, Limit: 3, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, tg := range resp.GetTags() {
			got = append(got, tg.GetTagKey()+"="+tg.GetTagValue())
		}
		if !resp.GetTruncated() {
			break
		}
		marker = resp.GetNextMarker()
	}
	if want := "a=new b=vb d=vd e=ve"; strings.Join(got, " ") != want {
		t.Fatalf("tags %q, want %q", strings.Join(got, " "), want)
	}
	many := make([]*kmsv1.Tag, 0, 50)
	for i := range 50 {
		many = append(many, &kmsv1.Tag{TagKey: "k" + string(rune('A'+i%26)) + string(rune('a'+i/26))})
	}
	_, err := h.client.TagResource(ctx, &kmsv1.TagResourceRequest{KeyId: id, Tags: many})
	wantException(t, err, excLimitExceeded)
	_, err = h.client.TagResource(ctx, &kmsv1.TagResourceRequest{KeyId: id})
	wantException(t, err, excValidation)
}
