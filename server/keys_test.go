package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func TestCreateKeyValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, c := range []struct {
		name string
		req  *kmsv1.CreateKeyRequest
		want string
	}{
		{"bad usage", &kmsv1.CreateKeyRequest{KeyUsage: "ENCRYPT"}, excValidation},
		{"asymmetric usage", &kmsv1.CreateKeyRequest{KeyUsage: "SIGN_VERIFY"}, excUnsupported},
		{"bad spec", &kmsv1.CreateKeyRequest{KeySpec: "AES"}, excValidation},
		{"asymmetric spec", &kmsv1.CreateKeyRequest{KeySpec: "RSA_2048"}, excUnsupported},
		{"both specs", &kmsv1.CreateKeyRequest{KeySpec: "SYMMETRIC_DEFAULT", CustomerMasterKeySpec: "SYMMETRIC_DEFAULT"}, excValidation},
		{"bad origin", &kmsv1.CreateKeyRequest{Origin: "SOMEWHERE"}, excValidation},
		{"long description", &kmsv1.CreateKeyRequest{Description: strings.Repeat("d", 8193)}, excValidation},
		{"empty tag key", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: ""}}}, excTag},
		{"reserved tag key", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "aws:x"}}}, excTag},
		{"duplicate tag", &kmsv1.CreateKeyRequest{Tags: []*kmsv1.Tag{{TagKey: "a"}, {TagKey: "a"}}}, excTag},
		{"policy", &kmsv1.CreateKeyRequest{Policy: "{}"}, excMalformedPolicy},
		{"multi-region", &kmsv1.CreateKeyRequest{MultiRegion: true}, excUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.client.CreateKey(ctx, c.req)
			wantException(t, err, c.want)
		})
	}
	if n := h.store.KeyCount(); n != 0 {
		t.Fatalf("refused requests created %d keys", n)
	}
}

func TestCreateAndDescribeKey(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	resp, err := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "payments", Tags: []*kmsv1.Tag{{TagKey: "team", TagValue: "pay"}}})
	if err != nil {
		t.Fatal(err)
	}
	md := resp.GetKeyMetadata()
	if md.GetKeyState() != "Enabled" || !md.GetEnabled() || md.GetKeyUsage() != "ENCRYPT_DECRYPT" ||
		md.GetKeySpec() != "SYMMETRIC_DEFAULT" || md.GetOrigin() != "AWS_KMS" || len(md.GetCurrentKeyMaterialId()) != 64 {
		t.Fatalf("unexpected metadata %v", md)
	}
	wantARN := "arn:aws:kms:us-east-1:111122223333:key/" + md.GetKeyId()
	if md.GetArn() != wantARN {
		t.Fatalf("Arn = %q, want %q", md.GetArn(), wantARN)
	}
	for _, id := range []string{md.GetKeyId(), md.GetArn(), strings.ToUpper(md.GetKeyId())} {
		d, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
		if err != nil {
			t.Fatalf("DescribeKey(%s): %v", id, err)
		}
		if d.GetKeyMetadata().GetKeyId() != md.GetKeyId() || d.GetKeyMetadata().GetDescription() != "payments" {
			t.Fatalf("DescribeKey(%s) = %v", id, d.GetKeyMetadata())
		}
	}
	ext, err := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	if st := ext.GetKeyMetadata().GetKeyState(); st != "PendingImport" {
		t.Fatalf("EXTERNAL key state %s, want PendingImport", st)
	}
	_, err = h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: ext.GetKeyMetadata().GetKeyId(), Plaintext: []byte("x")})
	wantException(t, err, excInvalidState)
}

func TestResolveKeyErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	for _, c := range []struct {
		keyID string
		want  string
	}{
		{"", excValidation},
		{"not-a-key", excNotFound},
		{"00000000-0000-4000-8000-000000000000", excNotFound},
		{"arn:aws:kms:eu-west-1:111122223333:key/" + md.GetKeyId(), excNotFound},
		{"arn:aws:kms:us-east-1:999999999999:key/" + md.GetKeyId(), excNotFound},
		{"arn:aws:kms:us-east-1:111122223333:bucket/x", excNotFound},
		{"alias/missing", excNotFound},
		{strings.Repeat("k", 2049), excValidation},
	} {
		_, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: c.keyID})
		wantException(t, err, c.want)
	}
}

func TestKeyStateMachine(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	pt := []byte("secret")
	enc := func() error {
		_, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: pt})
		return err
	}
	state := func() string {
		d, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
		if err != nil {
			t.Fatal(err)
		}
		return d.GetKeyMetadata().GetKeyState()
	}
	ct, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: pt})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	wantException(t, enc(), excDisabled)
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: ct.GetCiphertextBlob()})
	wantException(t, err, excDisabled)
	if _, err := h.client.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if err := enc(); err != nil {
		t.Fatalf("encrypt after enable: %v", err)
	}
	sched, err := h.client.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: id, PendingWindowInDays: 7})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sched.GetDeletionDate().AsTime(), h.clock.Now().AddDate(0, 0, 7); !got.Equal(want) {
		t.Fatalf("DeletionDate %v, want %v", got, want)
	}
	if state() != "PendingDeletion" {
		t.Fatalf("state %s after ScheduleKeyDeletion", state())
	}
	wantException(t, enc(), excInvalidState)
	_, err = h.client.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: id})
	wantException(t, err, excInvalidState)
	_, err = h.client.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: id})
	wantException(t, err, excInvalidState)
	_, err = h.client.UpdateKeyDescription(ctx, &kmsv1.UpdateKeyDescriptionRequest{KeyId: id, Description: "x"})
	wantException(t, err, excInvalidState)
	if state() != "PendingDeletion" {
		t.Fatal("a refused mutation changed the key state")
	}
	if _, err := h.client.CancelKeyDeletion(ctx, &kmsv1.CancelKeyDeletionRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	if state() != "Disabled" {
		t.Fatalf("state %s after CancelKeyDeletion, want Disabled", state())
	}
	_, err = h.client.CancelKeyDeletion(ctx, &kmsv1.CancelKeyDeletionRequest{KeyId: id})
	wantException(t, err, excInvalidState)
}

func TestScheduleKeyDeletionWindow(t *testing.T) {
	h := newHarness(t)
	id := h.createKey(t).GetKeyId()
	for _, days := range []int32{-1, 1, 6, 31, 365} {
		_, err := h.client.ScheduleKeyDeletion(context.Background(), &kmsv1.ScheduleKeyDeletionRequest{KeyId: id, PendingWindowInDays: days})
		wantException(t, err, excValidation)
	}
	resp, err := h.client.ScheduleKeyDeletion(context.Background(), &kmsv1.ScheduleKeyDeletionRequest{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetPendingWindowInDays() != 30 {
		t.Fatalf("default window %d, want 30", resp.GetPendingWindowInDays())
	}
}

func TestScheduledDeletionIsCarriedOut(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	keep := h.createKey(t).GetKeyId()
	ct, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/doomed", TargetKeyId: id}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: id, PendingWindowInDays: 7}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(7*24*time.Hour - time.Second)
	h.srv.runDue(ctx)
	if _, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
		t.Fatalf("key deleted before its date: %v", err)
	}
	h.clock.Advance(time.Second)
	h.srv.runDue(ctx)
	_, err = h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
	wantException(t, err, excNotFound)
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: ct.GetCiphertextBlob()})
	wantException(t, err, excNotFound)
	_, err = h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: "alias/doomed"})
	wantException(t, err, excNotFound)
	if _, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keep}); err != nil {
		t.Fatalf("another key was affected: %v", err)
	}
	h.srv.materials.mu.RLock()
	for mk := range h.srv.materials.m {
		if mk.keyID == id {
			t.Error("the deleted key's material is still cached")
		}
	}
	h.srv.materials.mu.RUnlock()
}

func TestListKeysPaging(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	want := map[string]bool{}
	for range 7 {
		want[h.createKey(t).GetKeyId()] = true
	}
	got := map[string]bool{}
	marker, pages := "", 0
	for {
		resp, err := h.client.ListKeys(ctx, &kmsv1.ListKeysRequest{Limit: 3, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, k := range resp.GetKeys() {
			if got[k.GetKeyId()] {
				t.Fatalf("key %s listed twice", k.GetKeyId())
			}
			got[k.GetKeyId()] = true
		}
		if !resp.GetTruncated() {
			break
		}
		marker = resp.GetNextMarker()
	}
	if len(got) != len(want) || pages != 3 {
		t.Fatalf("listed %d keys in %d pages, want %d in 3", len(got), pages, len(want))
	}
	for _, limit := range []int32{-1, 1001} {
		_, err := h.client.ListKeys(ctx, &kmsv1.ListKeysRequest{Limit: limit})
		wantException(t, err, excValidation)
	}
	_, err := h.client.ListKeys(ctx, &kmsv1.ListKeysRequest{Marker: "garbage!"})
	wantException(t, err, excInvalidMarker)
}

func TestErrorTable(t *testing.T) {
	for _, row := range errorTable {
		st, _ := status.FromError(toStatus(context.Background(), discardLogger, "/m", row.err))
		if st.Code() != row.code || ExceptionName(st.Err()) != row.name || st.Message() != row.message {
			t.Errorf("%v -> %v %q %q", row.err, st.Code(), ExceptionName(st.Err()), st.Message())
		}
	}
	err := toStatus(context.Background(), discardLogger, "/m", errCorruptMaterial)
	if status.Code(err) != codes.Internal || ExceptionName(err) != excInternal || strings.Contains(err.Error(), "root key") {
		t.Errorf("internal error leaked or mis-mapped: %v", err)
	}
}
