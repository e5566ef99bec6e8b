package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func TestEveryVersionKeepsDecrypting(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	id := md.GetKeyId()
	type sealed struct {
		blob []byte
		pt   string
		mid  string
	}
	var all []sealed
	mids := map[string]bool{}
	for i := range 5 {
		d, _ := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
		mid := d.GetKeyMetadata().GetCurrentKeyMaterialId()
		mids[mid] = true
		pt := fmt.Sprintf("message %d", i)
		enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte(pt)})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sealed{enc.GetCiphertextBlob(), pt, mid})
		if _, err := h.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	if len(mids) != 5 {
		t.Fatalf("5 rotations gave %d distinct materials", len(mids))
	}
	d, _ := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
	newest := d.GetKeyMetadata().GetCurrentKeyMaterialId()
	for _, s := range all {
		dec, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: s.blob})
		if err != nil || string(dec.GetPlaintext()) != s.pt || dec.GetKeyMaterialId() != s.mid {
			t.Fatalf("ciphertext of material %s: %v", s.mid, err)
		}
		re, err := h.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: s.blob, DestinationKeyId: id})
		if err != nil || re.GetSourceKeyMaterialId() != s.mid || re.GetDestinationKeyMaterialId() != newest {
			t.Fatalf("ReEncrypt did not move %s to the newest material: %v", s.mid, err)
		}
	}
	rot, err := h.client.ListKeyRotations(ctx, &kmsv1.ListKeyRotationsRequest{KeyId: id})
	if err != nil || len(rot.GetRotations()) != 5 || rot.GetRotations()[0].GetRotationType() != "ON_DEMAND" {
		t.Fatalf("ListKeyRotations: %v, %v", rot, err)
	}
	allMat, _ := h.client.ListKeyRotations(ctx, &kmsv1.ListKeyRotationsRequest{KeyId: id, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Limit: 4})
	if len(allMat.GetRotations()) != 4 || !allMat.GetTruncated() || allMat.GetRotations()[0].GetKeyMaterialId() != all[0].mid {
		t.Fatalf("ListKeyRotations ALL_KEY_MATERIAL page: %v", allMat)
	}
	next, _ := h.client.ListKeyRotations(ctx, &kmsv1.ListKeyRotationsRequest{KeyId: id, IncludeKeyMaterial: "ALL_KEY_MATERIAL", Marker: allMat.GetNextMarker()})
	if len(next.GetRotations()) != 2 || next.GetRotations()[1].GetKeyMaterialState() != "CURRENT" {
		t.Fatalf("second page: %v", next)
	}
}

func TestAutomaticRotation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	for _, days := range []int32{89, 2561, -3} {
		_, err := h.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id, RotationPeriodInDays: days})
		wantException(t, err, excValidation)
	}
	if _, err := h.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id, RotationPeriodInDays: 90}); err != nil {
		t.Fatal(err)
	}
	st, err := h.client.GetKeyRotationStatus(ctx, &kmsv1.GetKeyRotationStatusRequest{KeyId: id})
	due := h.clock.Now().AddDate(0, 0, 90)
	if err != nil || !st.GetKeyRotationEnabled() || st.GetRotationPeriodInDays() != 90 || !st.GetNextRotationDate().AsTime().Equal(due) {
		t.Fatalf("status %v, %v", st, err)
	}
	h.clock.Advance(90*24*time.Hour - time.Minute)
	h.srv.runDue(ctx)
	if n := versions(t, h, id); n != 1 {
		t.Fatalf("rotated early: %d versions", n)
	}
	h.clock.Advance(time.Minute)
	h.srv.runDue(ctx)
	h.srv.runDue(ctx)
	if n := versions(t, h, id); n != 2 {
		t.Fatalf("%d versions after the due date, want 2", n)
	}
	rot, _ := h.client.ListKeyRotations(ctx, &kmsv1.ListKeyRotationsRequest{KeyId: id})
	if len(rot.GetRotations()) != 1 || rot.GetRotations()[0].GetRotationType() != "AUTOMATIC" {
		t.Fatalf("rotations %v", rot.GetRotations())
	}
	// 1,000 simulated days: exactly one rotation per period.
	for range 1000 {
		h.clock.Advance(24 * time.Hour)
		h.srv.runDue(ctx)
	}
	if n := versions(t, h, id); n != 2+1000/90 {
		t.Fatalf("%d versions after 1,090 days with a 90-day period, want %d", n, 2+1000/90)
	}
	if _, err := h.client.DisableKeyRotation(ctx, &kmsv1.DisableKeyRotationRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(365 * 24 * time.Hour)
	h.srv.runDue(ctx)
	if n := versions(t, h, id); n != 2+1000/90 {
		t.Fatal("rotated after DisableKeyRotation")
	}
}

// TestRotationProposedTwiceRotatesOnce: an old and a new leader proposing
// the same due rotation give one rotation.
func TestRotationProposedTwiceRotatesOnce(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	if _, err := h.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(366 * 24 * time.Hour)
	now := h.clock.Now()
	due := h.store.DueForRotation(now, 0)
	if len(due) != 1 {
		t.Fatalf("due %v", due)
	}
	for range 2 {
		v, _ := h.srv.newKeyVersion(id)
		err := h.srv.propose(ctx, &keystore.Mutation{Op: keystore.OpRotateKey, Time: now, KeyID: id,
			RotationType: keystore.RotationAutomatic, FromMaterialID: due[0].FromMaterialID, DueDate: due[0].DueDate, Version: v})
		_ = err
	}
	if n := versions(t, h, id); n != 2 {
		t.Fatalf("%d versions after the same rotation was proposed twice, want 2", n)
	}
}

func TestRotationErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	ext, _ := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	extID := ext.GetKeyMetadata().GetKeyId()
	_, err := h.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: extID})
	wantException(t, err, excUnsupported)
	_, err = h.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: extID})
	wantException(t, err, excInvalidState)
	_, err = h.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: "alias/none"})
	wantException(t, err, excNotFound)
	h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: id})
	_, err = h.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id})
	wantException(t, err, excDisabled)
	_, err = h.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id})
	wantException(t, err, excDisabled)
	h.client.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: id})
	for range keystore.MaxOnDemandRotations {
		if _, err := h.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	_, err = h.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id})
	wantException(t, err, excLimitExceeded)
	_, err = h.client.ListKeyRotations(ctx, &kmsv1.ListKeyRotationsRequest{KeyId: id, IncludeKeyMaterial: "SOME"})
	wantException(t, err, excValidation)
	_, err = h.client.ListKeyRotations(ctx, &kmsv1.ListKeyRotationsRequest{KeyId: id, Marker: "nope"})
	wantException(t, err, excInvalidMarker)
}

// TestUsageCountsAndRotationByUsage: encryptions are counted per version,
// committed through the log, and a configured count rotates the key.
// TestUsageCountsAndRotationByUsage: with a limit of 100 encryptions, the
// material makes exactly 100 and the 101st encryption, which finds no use
// left, rotates the key and uses the new material. The counts shown by
// DescribeKey include the uncommitted ones.
func TestUsageCountsAndRotationByUsage(t *testing.T) {
	h := newHarness(t)
	h.srv.usageMax = 100
	ctx := context.Background()
	md := h.createKey(t)
	id := md.GetKeyId()
	perMaterial := map[string]int{}
	note := func(blob []byte) {
		hd, err := envelope.ParseHeader(blob)
		if err != nil {
			t.Fatal(err)
		}
		perMaterial[hd.MaterialID.String()]++
	}
	for range 60 {
		r, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		note(r.GetCiphertextBlob())
	}
	for range 40 {
		r, err := h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: id, KeySpec: "AES_256"})
		if err != nil {
			t.Fatal(err)
		}
		note(r.GetCiphertextBlob())
	}
	if got := count(t, h, id, 0); got != 100 || versions(t, h, id) != 1 {
		t.Fatalf("DescribeKey shows %d encryptions and %d versions, want 100 and 1", got, versions(t, h, id))
	}
	r, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	note(r.GetCiphertextBlob())
	if n := versions(t, h, id); n != 2 {
		t.Fatalf("%d versions after 101 encryptions with a limit of 100, want 2", n)
	}
	if perMaterial[md.GetCurrentKeyMaterialId()] != 100 || len(perMaterial) != 2 {
		t.Fatalf("encryptions per material %v, want exactly 100 under the first", perMaterial)
	}
	if err := h.srv.reportUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if got := count(t, h, id, 1); got != 1 {
		t.Fatalf("new material counted %d, want 1", got)
	}
	if got := count(t, h, id, 0); got != 100 {
		t.Fatalf("old material counted %d, want 100", got)
	}
	// The scheduler finds nothing more to rotate.
	h.srv.runDue(ctx)
	if n := versions(t, h, id); n != 2 {
		t.Fatalf("%d versions after the scheduler ran", n)
	}
}

func versions(t *testing.T, h *harness, id string) int {
	t.Helper()
	d, err := h.client.DescribeKey(context.Background(), &kmsv1.DescribeKeyRequest{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(d.GetKeyMetadata().GetKeyMaterials())
}

func count(t *testing.T, h *harness, id string, version int) int64 {
	t.Helper()
	d, err := h.client.DescribeKey(context.Background(), &kmsv1.DescribeKeyRequest{KeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	return d.GetKeyMetadata().GetKeyMaterials()[version].GetEncryptionCount()
}
