package server

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"
	"time"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// importMaterial runs the whole client side of an import: parameters,
// wrapping with crypto/rsa through envelope.WrapForImport, import.
func importMaterial(t *testing.T, h *harness, keyID, alg, spec string, material []byte, req *kmsv1.ImportKeyMaterialRequest) (*kmsv1.ImportKeyMaterialResponse, error) {
	t.Helper()
	ctx := context.Background()
	p, err := h.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: keyID, WrappingAlgorithm: alg, WrappingKeySpec: spec})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(p.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), alg, material)
	if err != nil {
		t.Fatal(err)
	}
	if req == nil {
		req = &kmsv1.ImportKeyMaterialRequest{}
	}
	req.KeyId, req.ImportToken, req.EncryptedKeyMaterial = keyID, p.GetImportToken(), wrapped
	return h.client.ImportKeyMaterial(ctx, req)
}

func newMaterial(t *testing.T) []byte {
	m := make([]byte, 32)
	rand.Read(m)
	return m
}

func TestImportEveryAlgorithmAndSpec(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	for _, spec := range []string{"RSA_2048", "RSA_3072", "RSA_4096"} {
		for _, alg := range []string{"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"} {
			if spec == "RSA_4096" && alg != "RSA_AES_KEY_WRAP_SHA_256" && testing.Short() {
				continue
			}
			k, _ := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
			id := k.GetKeyMetadata().GetKeyId()
			material := newMaterial(t)
			resp, err := importMaterial(t, h, id, alg, spec, material, nil)
			if err != nil {
				t.Fatalf("%s/%s: %v", alg, spec, err)
			}
			want, _ := envelope.KeyFromBytes(material)
			if resp.GetKeyMaterialId() != want.MaterialID().String() {
				t.Fatalf("%s/%s: material id %s", alg, spec, resp.GetKeyMaterialId())
			}
			enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("byok")})
			if err != nil {
				t.Fatalf("%s/%s: encrypt: %v", alg, spec, err)
			}
			// The imported material is what encrypts: open locally with it.
			if pt, err := envelope.Open(want, enc.GetCiphertextBlob(), nil); err != nil || string(pt) != "byok" {
				t.Fatalf("%s/%s: ciphertext not made with the imported material", alg, spec)
			}
		}
	}
}

func TestImportErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	k, _ := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	id := k.GetKeyMetadata().GetKeyId()
	other, _ := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	aws := h.createKey(t).GetKeyId()
	_, err := h.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: aws, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	wantException(t, err, excUnsupported)
	_, err = h.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: id, WrappingAlgorithm: "RSA", WrappingKeySpec: "RSA_2048"})
	wantException(t, err, excValidation)
	_, err = h.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: id, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_1024"})
	wantException(t, err, excValidation)

	p, err := h.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: id, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.ParsePKIXPublicKey(p.GetPublicKey())
	material := newMaterial(t)
	wrapped, _ := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), "RSAES_OAEP_SHA_256", material)
	imp := func(keyID string, token, w []byte) error {
		_, err := h.client.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: keyID, ImportToken: token, EncryptedKeyMaterial: w})
		return err
	}
	// A token for another key, a forged token.
	wantException(t, imp(other.GetKeyMetadata().GetKeyId(), p.GetImportToken(), wrapped), excInvalidImportToken)
	forged := append([]byte{}, p.GetImportToken()...)
	forged[len(forged)-1] ^= 1
	wantException(t, imp(id, forged, wrapped), excInvalidImportToken)
	// Malformed wrapped material: every failure is one status and message.
	var first *status.Status
	for _, bad := range [][]byte{wrapped[:len(wrapped)-1], append(append([]byte{}, wrapped...), 0), flipByte(wrapped, 0), flipByte(wrapped, 100), make([]byte, 256)} {
		err := imp(id, p.GetImportToken(), bad)
		wantException(t, err, excInvalidCiphertxt)
		st, _ := status.FromError(err)
		if first == nil {
			first = st
		} else if st.Message() != first.Message() || st.Code() != first.Code() {
			t.Fatalf("unwrap failures differ: %v vs %v", st, first)
		}
	}
	if d, _ := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); d.GetKeyMetadata().GetKeyState() != "PendingImport" {
		t.Fatal("a failed import changed the key state")
	}
	// ValidTo rules.
	_, err = h.client.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: id, ImportToken: p.GetImportToken(), EncryptedKeyMaterial: wrapped,
		ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: timestamppb.New(h.clock.Now().Add(-time.Hour))})
	wantException(t, err, excValidation)
	_, err = h.client.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: id, ImportToken: p.GetImportToken(), EncryptedKeyMaterial: wrapped,
		ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE", ValidTo: timestamppb.New(h.clock.Now().Add(time.Hour))})
	wantException(t, err, excValidation)
	// The good import, then other material is refused.
	if err := imp(id, p.GetImportToken(), wrapped); err != nil {
		t.Fatal(err)
	}
	otherWrapped, _ := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), "RSAES_OAEP_SHA_256", newMaterial(t))
	wantException(t, imp(id, p.GetImportToken(), otherWrapped), excIncorrectMaterial)
	// The token expires after 24 hours.
	h.clock.Advance(24*time.Hour + time.Second)
	wantException(t, imp(id, p.GetImportToken(), wrapped), excExpiredImportToken)
}

func flipByte(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x10
	return c
}

func TestImportedMaterialDeletionAndExpiry(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	k, _ := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	id := k.GetKeyMetadata().GetKeyId()
	material := newMaterial(t)
	validTo := h.clock.Now().Add(48 * time.Hour)
	if _, err := importMaterial(t, h, id, "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048", material,
		&kmsv1.ImportKeyMaterialRequest{ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: timestamppb.New(validTo)}); err != nil {
		t.Fatal(err)
	}
	enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
	if !d.GetKeyMetadata().GetValidTo().AsTime().Equal(validTo) {
		t.Fatalf("ValidTo %v, want %v", d.GetKeyMetadata().GetValidTo().AsTime(), validTo)
	}
	h.clock.Advance(47 * time.Hour)
	h.srv.runDue(ctx)
	if _, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()}); err != nil {
		t.Fatalf("decrypt before expiry: %v", err)
	}
	h.clock.Advance(time.Hour)
	h.srv.runDue(ctx)
	d, _ = h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
	if d.GetKeyMetadata().GetKeyState() != "PendingImport" {
		t.Fatalf("state %s after expiry", d.GetKeyMetadata().GetKeyState())
	}
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
	wantException(t, err, excInvalidState)
	// The same material again: the old ciphertext decrypts.
	if _, err := importMaterial(t, h, id, "RSAES_OAEP_SHA_256", "RSA_2048", material, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()}); err != nil {
		t.Fatalf("decrypt after re-import: %v", err)
	}
	if _, err := h.client.DeleteImportedKeyMaterial(ctx, &kmsv1.DeleteImportedKeyMaterialRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
	wantException(t, err, excInvalidState)
	h.srv.runDue(ctx)
	h.srv.materials.mu.RLock()
	for mk := range h.srv.materials.m {
		if mk.keyID == id {
			t.Error("deleted imported material is still cached in plaintext")
		}
	}
	h.srv.materials.mu.RUnlock()
	_, err = h.client.DeleteImportedKeyMaterial(ctx, &kmsv1.DeleteImportedKeyMaterialRequest{KeyId: h.createKey(t).GetKeyId()})
	wantException(t, err, excUnsupported)
}

// TestExternalKeyRotation: new material imported for rotation becomes
// current on RotateKeyOnDemand; older ciphertexts keep decrypting.
func TestExternalKeyRotation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	k, _ := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	id := k.GetKeyMetadata().GetKeyId()
	first, second := newMaterial(t), newMaterial(t)
	if _, err := importMaterial(t, h, id, "RSAES_OAEP_SHA_256", "RSA_2048", first, nil); err != nil {
		t.Fatal(err)
	}
	old, _ := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("old")})
	if _, err := importMaterial(t, h, id, "RSAES_OAEP_SHA_256", "RSA_2048", second, &kmsv1.ImportKeyMaterialRequest{ImportType: "NEW_KEY_MATERIAL"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id}); err != nil {
		t.Fatal(err)
	}
	newer, _ := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("new")})
	want, _ := envelope.KeyFromBytes(second)
	if pt, err := envelope.Open(want, newer.GetCiphertextBlob(), nil); err != nil || string(pt) != "new" {
		t.Fatal("after rotation, encryption does not use the new imported material")
	}
	if dec, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: old.GetCiphertextBlob()}); err != nil || string(dec.GetPlaintext()) != "old" {
		t.Fatalf("old ciphertext after rotation: %v", err)
	}
}

// importOnMember creates an EXTERNAL key on a member and imports material
// that expires at validTo.
func importOnMember(t *testing.T, m *member, validTo time.Time) string {
	t.Helper()
	ctx := context.Background()
	k, err := m.srv.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	id := k.GetKeyMetadata().GetKeyId()
	p, err := m.srv.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: id, WrappingAlgorithm: "RSAES_OAEP_SHA_256", WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := x509.ParsePKIXPublicKey(p.GetPublicKey())
	wrapped, _ := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), "RSAES_OAEP_SHA_256", newMaterial(t))
	if _, err := m.srv.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: id, ImportToken: p.GetImportToken(),
		EncryptedKeyMaterial: wrapped, ExpirationModel: "KEY_MATERIAL_EXPIRES", ValidTo: timestamppb.New(validTo)}); err != nil {
		t.Fatal(err)
	}
	return id
}
