package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestGrants: a grant lets its grantee call exactly its operations on its
// key under its constraint; RetireGrant and RevokeGrant end it at once;
// CreateGrant with a name is idempotent; an explicit deny beats a grant;
// ListGrants pages; grant tokens are accepted on crypto calls and never
// recorded.
func TestGrants(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	root := kmsv1.NewKeyManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	app, appARN := a.userClient(t, "app")
	other, otherARN := a.userClient(t, "other")
	k, err := root.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()
	k2, _ := root.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	ec := map[string]string{"tenant": "acme"}

	_, err = app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), EncryptionContext: ec})
	wantException(t, err, excAccessDenied)
	g, err := root.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN,
		Operations: []string{"Encrypt", "Decrypt"}, RetiringPrincipal: otherARN,
		Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: ec}})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.GetGrantId()) != 64 || g.GetGrantToken() == "" {
		t.Fatalf("CreateGrant = %v", g)
	}
	// Effective at once, under the constraint, for its operations only.
	enc, err := app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"),
		EncryptionContext: map[string]string{"tenant": "acme", "more": "ok"}, GrantTokens: []string{g.GetGrantToken()}})
	if err != nil {
		t.Fatalf("Encrypt under the grant: %v", err)
	}
	if _, err := app.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(),
		EncryptionContext: map[string]string{"tenant": "acme", "more": "ok"}}); err != nil {
		t.Fatalf("Decrypt under the grant: %v", err)
	}
	for i, c := range []struct {
		call func() error
		want string
	}{
		{func() error {
			_, err := app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
			return err
		}, excAccessDenied},
		{func() error {
			_, err := app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "evil"}})
			return err
		}, excAccessDenied},
		{func() error {
			_, err := app.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keyID, KeySpec: "AES_256", EncryptionContext: ec})
			return err
		}, excAccessDenied},
		{func() error {
			_, err := app.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
			return err
		}, excAccessDenied},
		{func() error {
			_, err := app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: k2.GetKeyMetadata().GetKeyId(), Plaintext: []byte("x"), EncryptionContext: ec})
			return err
		}, excAccessDenied},
		{func() error {
			_, err := other.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), EncryptionContext: ec})
			return err
		}, excAccessDenied},
		{func() error {
			_, err := app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), EncryptionContext: ec, GrantTokens: []string{"not-a-token"}})
			return err
		}, excInvalidToken},
		{func() error {
			_, err := app.RevokeGrant(ctx, &kmsv1.RevokeGrantRequest{KeyId: keyID, GrantId: g.GetGrantId()})
			return err
		}, excAccessDenied},
	} {
		if err := c.call(); err == nil || ExceptionName(err) != c.want {
			t.Errorf("case %d: %v, want %s", i, err, c.want)
		}
	}

	// An explicit deny in an identity policy beats the grant.
	admin := kmsv1.NewIdentityManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	if _, err := admin.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "no-encrypt",
		PolicyDocument: `{"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "kms:Encrypt", "Resource": "*"}]}`}); err != nil {
		t.Fatal(err)
	}
	_, err = app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), EncryptionContext: ec})
	wantException(t, err, excAccessDenied)
	if _, err := admin.DeleteUserPolicy(ctx, &kmsv1.DeleteUserPolicyRequest{UserName: "app", PolicyName: "no-encrypt"}); err != nil {
		t.Fatal(err)
	}

	// The retiring principal retires the grant by its token: gone at once.
	retirable, err := root.ListRetirableGrants(ctx, &kmsv1.ListRetirableGrantsRequest{RetiringPrincipal: otherARN})
	if err != nil || len(retirable.GetGrants()) != 1 || retirable.GetGrants()[0].GetGrantId() != g.GetGrantId() {
		t.Fatalf("ListRetirableGrants = %v, %v", retirable, err)
	}
	if _, err := other.RetireGrant(ctx, &kmsv1.RetireGrantRequest{GrantToken: g.GetGrantToken()}); err != nil {
		t.Fatalf("RetireGrant by the retiring principal: %v", err)
	}
	_, err = app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x"), EncryptionContext: ec})
	wantException(t, err, excAccessDenied)
	_, err = other.RetireGrant(ctx, &kmsv1.RetireGrantRequest{GrantToken: g.GetGrantToken()})
	wantException(t, err, excAccessDenied) // not found, and other may not see the key
	_, err = root.RetireGrant(ctx, &kmsv1.RetireGrantRequest{GrantToken: g.GetGrantToken()})
	wantException(t, err, excNotFound)

	// By name: the same grant twice, a new one when a parameter differs.
	named := &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"DescribeKey", "RetireGrant"}, Name: "app-describe"}
	g1, err := root.CreateGrant(ctx, named)
	if err != nil {
		t.Fatal(err)
	}
	g2, err := root.CreateGrant(ctx, named)
	if err != nil || g2.GetGrantId() != g1.GetGrantId() || g2.GetGrantToken() == g1.GetGrantToken() {
		t.Fatalf("repeated named CreateGrant = %v, %v (first %v)", g2, err, g1)
	}
	named.Operations = []string{"DescribeKey"}
	g3, err := root.CreateGrant(ctx, named)
	if err != nil || g3.GetGrantId() == g1.GetGrantId() {
		t.Fatalf("named CreateGrant with other operations = %v, %v", g3, err)
	}
	if _, err := app.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID}); err != nil {
		t.Fatalf("DescribeKey under the grant: %v", err)
	}
	// The grantee retires a grant that allows RetireGrant, not one that does not.
	_, err = app.RetireGrant(ctx, &kmsv1.RetireGrantRequest{KeyId: keyID, GrantId: g3.GetGrantId()})
	wantException(t, err, excAccessDenied)
	if _, err := app.RetireGrant(ctx, &kmsv1.RetireGrantRequest{KeyId: keyID, GrantId: g1.GetGrantId()}); err != nil {
		t.Fatalf("grantee RetireGrant: %v", err)
	}
	if _, err := root.RevokeGrant(ctx, &kmsv1.RevokeGrantRequest{KeyId: keyID, GrantId: g3.GetGrantId()}); err != nil {
		t.Fatal(err)
	}
	_, err = app.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
	wantException(t, err, excAccessDenied)

	// Paging.
	var want []string
	for i := range 7 {
		r, err := root.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: fmt.Sprintf("arn:aws:iam::%s:user/u%d", DefaultAccountID, i), Operations: []string{"Decrypt"}})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, r.GetGrantId())
	}
	var got []string
	marker := ""
	for pages := 1; ; pages++ {
		l, err := root.ListGrants(ctx, &kmsv1.ListGrantsRequest{KeyId: keyID, Limit: 3, Marker: marker})
		if err != nil || pages > 3 {
			t.Fatal(err, pages)
		}
		for _, e := range l.GetGrants() {
			got = append(got, e.GetGrantId())
			if e.GetKeyId() != a.srv.keyARN(keyID) || len(e.GetOperations()) != 1 || e.GetIssuingAccount() == "" {
				t.Errorf("grant entry %v", e)
			}
		}
		if !l.GetTruncated() {
			break
		}
		marker = l.GetNextMarker()
	}
	if len(got) != 7 || strings.Join(sortedCopy(got), ",") != strings.Join(sortedCopy(want), ",") {
		t.Errorf("paged grants %v, want %v", got, want)
	}
	one, err := root.ListGrants(ctx, &kmsv1.ListGrantsRequest{KeyId: keyID, GranteePrincipal: "arn:aws:iam::" + DefaultAccountID + ":user/u3"})
	if err != nil || len(one.GetGrants()) != 1 || one.GetGrants()[0].GetGrantId() != want[3] {
		t.Errorf("ListGrants by grantee = %v, %v", one, err)
	}
	_, err = root.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Sign"}})
	wantException(t, err, excUnsupported)
	_, err = root.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Decrypt"}, Name: "bad name"})
	wantException(t, err, excValidation)

	// Tokens are never on record.
	events, err := kmsv1.NewAuditServiceClient(a.signed(t, a.root, a.clock.Now)).LookupEvents(ctx, &kmsv1.LookupEventsRequest{MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events.GetEvents() {
		for _, tok := range []string{g.GetGrantToken(), g1.GetGrantToken(), g2.GetGrantToken()} {
			if strings.Contains(string(e.GetRecord()), tok) {
				t.Fatalf("a grant token is on record: %s", e.GetRecord())
			}
		}
	}
}

// TestCreateGrantConditions: CreateGrant is authorized with the new
// grant's operations, grantee and constraint as condition keys, and a
// grantee allowed CreateGrant by a constrained grant may only create
// grants at least as strict, with no operation its grant lacks.
func TestCreateGrantConditions(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	root := kmsv1.NewKeyManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	ops, opsARN := a.userClient(t, "ops")
	_, appARN := a.userClient(t, "app")
	k, err := root.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()
	admin := kmsv1.NewIdentityManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
		"Effect": "Allow", "Action": "kms:CreateGrant", "Resource": "*",
		"Condition": map[string]any{"ForAllValues:StringEquals": map[string]any{"kms:GrantOperations": []string{"Decrypt"}},
			"StringEquals": map[string]any{"kms:GranteePrincipal": appARN}},
	}}})
	if _, err := admin.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "ops", PolicyName: "grants", PolicyDocument: string(doc)}); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Decrypt"}}); err != nil {
		t.Fatalf("allowed CreateGrant: %v", err)
	}
	_, err = ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Decrypt", "Encrypt"}})
	wantException(t, err, excAccessDenied)
	_, err = ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: opsARN, Operations: []string{"Decrypt"}})
	wantException(t, err, excAccessDenied)

	// A grant of CreateGrant under a constraint.
	if _, err := admin.DeleteUserPolicy(ctx, &kmsv1.DeleteUserPolicyRequest{UserName: "ops", PolicyName: "grants"}); err != nil {
		t.Fatal(err)
	}
	sub := map[string]string{"tenant": "acme"}
	if _, err := root.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: opsARN, Operations: []string{"CreateGrant", "Decrypt"},
		Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: sub}}); err != nil {
		t.Fatal(err)
	}
	_, err = ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Decrypt"}})
	wantException(t, err, excAccessDenied)
	if _, err := ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Decrypt"},
		Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: map[string]string{"tenant": "acme", "env": "prod"}}}); err != nil {
		t.Fatalf("a stricter grant from a constrained grantee: %v", err)
	}
	// ... and only with the operations of its own grant (AWS: the same or
	// fewer permissions).
	_, err = ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"Decrypt", "Encrypt"},
		Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: sub}})
	wantException(t, err, excAccessDenied)
	if _, err := ops.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keyID, GranteePrincipal: appARN, Operations: []string{"CreateGrant", "Decrypt"},
		Constraints: &kmsv1.GrantConstraints{EncryptionContextSubset: sub}}); err != nil {
		t.Fatalf("a grant with the grantee's own operations: %v", err)
	}
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}
