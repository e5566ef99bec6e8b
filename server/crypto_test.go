package server

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func TestEncryptDecryptRoundTrip(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	if _, err := h.client.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/app", TargetKeyId: md.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"tenant": "a", "purpose": "test"}
	for _, keyID := range []string{md.GetKeyId(), md.GetArn(), "alias/app", "arn:aws:kms:us-east-1:111122223333:alias/app"} {
		for _, n := range []int{1, 32, 4096} {
			pt := bytes.Repeat([]byte{byte(n)}, n)
			enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: pt, EncryptionContext: ec})
			if err != nil {
				t.Fatalf("Encrypt(%s, %d): %v", keyID, n, err)
			}
			if enc.GetKeyId() != md.GetArn() || len(enc.GetCiphertextBlob()) != n+110 {
				t.Fatalf("Encrypt response %s, %d-byte blob", enc.GetKeyId(), len(enc.GetCiphertextBlob()))
			}
			dec, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), EncryptionContext: ec})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(dec.GetPlaintext(), pt) || dec.GetKeyId() != md.GetArn() || dec.GetKeyMaterialId() != md.GetCurrentKeyMaterialId() {
				t.Fatalf("Decrypt returned %d bytes from %s", len(dec.GetPlaintext()), dec.GetKeyId())
			}
			if _, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), EncryptionContext: ec, KeyId: keyID}); err != nil {
				t.Fatalf("Decrypt with KeyId %s: %v", keyID, err)
			}
		}
	}
}

func TestEncryptValidation(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	for _, c := range []struct {
		name string
		req  *kmsv1.EncryptRequest
		want string
	}{
		{"empty plaintext", &kmsv1.EncryptRequest{KeyId: id}, excValidation},
		{"4097 bytes", &kmsv1.EncryptRequest{KeyId: id, Plaintext: make([]byte, 4097)}, excValidation},
		{"no key", &kmsv1.EncryptRequest{Plaintext: []byte("x")}, excValidation},
		{"unknown key", &kmsv1.EncryptRequest{KeyId: "11111111-2222-4333-8444-555555555555", Plaintext: []byte("x")}, excNotFound},
		{"rsa algorithm", &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: "RSAES_OAEP_SHA_256"}, excInvalidKeyUsage},
		{"bad algorithm", &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x"), EncryptionAlgorithm: "AES"}, excValidation},
		{"empty context key", &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x"), EncryptionContext: map[string]string{"": "v"}}, excValidation},
		{"too many grant tokens", &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x"), GrantTokens: make([]string, 11)}, excValidation},
		{"dry run", &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x"), DryRun: true}, excDryRun},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.client.Encrypt(ctx, c.req)
			wantException(t, err, c.want)
		})
	}
}

// TestDecryptFailuresAreUniform checks that every cryptographic failure is
// the same InvalidCiphertextException with the same message (L4).
func TestDecryptFailuresAreUniform(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	ec := map[string]string{"a": "b"}
	enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("attack at dawn"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	blob := enc.GetCiphertextBlob()
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 1; return b }
	cases := map[string]*kmsv1.DecryptRequest{
		"wrong context":    {CiphertextBlob: blob, EncryptionContext: map[string]string{"a": "c"}},
		"missing context":  {CiphertextBlob: blob},
		"extra context":    {CiphertextBlob: blob, EncryptionContext: map[string]string{"a": "b", "c": "d"}},
		"tag flipped":      {CiphertextBlob: flip(len(blob) - 1), EncryptionContext: ec},
		"body flipped":     {CiphertextBlob: flip(100), EncryptionContext: ec},
		"salt flipped":     {CiphertextBlob: flip(60), EncryptionContext: ec},
		"iv flipped":       {CiphertextBlob: flip(85), EncryptionContext: ec},
		"material flipped": {CiphertextBlob: flip(20), EncryptionContext: ec},
		"format changed":   {CiphertextBlob: flip(0), EncryptionContext: ec},
		"truncated":        {CiphertextBlob: blob[:len(blob)-1], EncryptionContext: ec},
		"header only":      {CiphertextBlob: blob[:94], EncryptionContext: ec},
		"garbage":          {CiphertextBlob: []byte("not a ciphertext at all"), EncryptionContext: ec},
		"one byte":         {CiphertextBlob: []byte{1}, EncryptionContext: ec},
	}
	var first *status.Status
	for name, req := range cases {
		_, err := h.client.Decrypt(ctx, req)
		wantException(t, err, excInvalidCiphertxt)
		st, _ := status.FromError(err)
		if first == nil {
			first = st
		} else if st.Message() != first.Message() || st.Code() != first.Code() {
			t.Errorf("%s: %v %q differs from %v %q", name, st.Code(), st.Message(), first.Code(), first.Message())
		}
	}
}

func TestDecryptKeyChecks(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(t), h.createKey(t)
	enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: a.GetKeyId(), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), KeyId: b.GetKeyId()})
	wantException(t, err, excIncorrectKey)
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: make([]byte, 6145)})
	wantException(t, err, excValidation)
	// The header names key a; swapping in key b's id must not decrypt.
	blob := bytes.Clone(enc.GetCiphertextBlob())
	bid := mustKeyID(t, b.GetKeyId())
	copy(blob[2:18], bid[:])
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob})
	wantException(t, err, excInvalidCiphertxt)
}

func TestReEncrypt(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(t), h.createKey(t)
	srcEC, dstEC := map[string]string{"v": "1"}, map[string]string{"v": "2"}
	enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: a.GetKeyId(), Plaintext: []byte("move me"), EncryptionContext: srcEC})
	if err != nil {
		t.Fatal(err)
	}
	re, err := h.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), SourceEncryptionContext: srcEC,
		DestinationKeyId: b.GetKeyId(), DestinationEncryptionContext: dstEC})
	if err != nil {
		t.Fatal(err)
	}
	if re.GetSourceKeyId() != a.GetArn() || re.GetKeyId() != b.GetArn() {
		t.Fatalf("ReEncrypt source %s dest %s", re.GetSourceKeyId(), re.GetKeyId())
	}
	dec, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: re.GetCiphertextBlob(), EncryptionContext: dstEC})
	if err != nil || string(dec.GetPlaintext()) != "move me" || dec.GetKeyId() != b.GetArn() {
		t.Fatalf("decrypting the re-encrypted blob: %v", err)
	}
	_, err = h.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), DestinationKeyId: b.GetKeyId()})
	wantException(t, err, excInvalidCiphertxt)
	_, err = h.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), SourceEncryptionContext: srcEC})
	wantException(t, err, excValidation)
	_, err = h.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), SourceEncryptionContext: srcEC,
		SourceKeyId: b.GetKeyId(), DestinationKeyId: b.GetKeyId()})
	wantException(t, err, excIncorrectKey)
	if _, err := h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: b.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	_, err = h.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), SourceEncryptionContext: srcEC, DestinationKeyId: b.GetKeyId()})
	wantException(t, err, excDisabled)
}

func TestGenerateDataKey(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	ec := map[string]string{"file": "x"}
	for _, c := range []struct {
		spec string
		n    int32
		want int
	}{{"AES_256", 0, 32}, {"AES_128", 0, 16}, {"", 1, 1}, {"", 1024, 1024}} {
		resp, err := h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: md.GetKeyId(), KeySpec: c.spec, NumberOfBytes: c.n, EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetPlaintext()) != c.want || resp.GetKeyId() != md.GetArn() {
			t.Fatalf("%s/%d: %d-byte data key", c.spec, c.n, len(resp.GetPlaintext()))
		}
		dec, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: resp.GetCiphertextBlob(), EncryptionContext: ec})
		if err != nil || !bytes.Equal(dec.GetPlaintext(), resp.GetPlaintext()) {
			t.Fatalf("data key does not decrypt to its plaintext: %v", err)
		}
	}
	for _, req := range []*kmsv1.GenerateDataKeyRequest{
		{KeyId: md.GetKeyId()},
		{KeyId: md.GetKeyId(), KeySpec: "AES_256", NumberOfBytes: 32},
		{KeyId: md.GetKeyId(), KeySpec: "AES_512"},
		{KeyId: md.GetKeyId(), NumberOfBytes: 1025},
		{KeyId: md.GetKeyId(), NumberOfBytes: -1},
	} {
		_, err := h.client.GenerateDataKey(ctx, req)
		wantException(t, err, excValidation)
	}
	wo, err := h.client.GenerateDataKeyWithoutPlaintext(ctx, &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: md.GetKeyId(), KeySpec: "AES_256"})
	if err != nil {
		t.Fatal(err)
	}
	dec, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: wo.GetCiphertextBlob()})
	if err != nil || len(dec.GetPlaintext()) != 32 {
		t.Fatalf("GenerateDataKeyWithoutPlaintext blob: %v", err)
	}
}

func TestGenerateRandom(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, err := h.client.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{NumberOfBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.client.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{NumberOfBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.GetPlaintext()) != 1024 || bytes.Equal(a.GetPlaintext(), b.GetPlaintext()) {
		t.Fatal("GenerateRandom returned short or repeated output")
	}
	for _, n := range []int32{0, -5, 1025} {
		_, err := h.client.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{NumberOfBytes: n})
		wantException(t, err, excValidation)
	}
}

func TestNoSecretsInErrors(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	id := h.createKey(t).GetKeyId()
	canary := "CANARY-" + strings.Repeat("7", 20)
	enc, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte(canary)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), EncryptionContext: map[string]string{"x": "y"}})
	if err == nil || strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "tag") {
		t.Fatalf("decrypt error reveals detail: %v", err)
	}
}
