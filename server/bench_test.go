package server

import (
	"context"
	"testing"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// BenchmarkGenerateDataKeyHandler measures the server's own work for one
// GenerateDataKey (lookup, state checks, data key, seal), without gRPC.
func BenchmarkGenerateDataKeyHandler(b *testing.B) {
	h := newBenchHarness(b)
	req := &kmsv1.GenerateDataKeyRequest{KeyId: h.keyID, KeySpec: "AES_256"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.srv.GenerateDataKey(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecryptHandler measures the server's own work for one Decrypt.
func BenchmarkDecryptHandler(b *testing.B) {
	h := newBenchHarness(b)
	ctx := context.Background()
	enc, err := h.srv.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: h.keyID, Plaintext: make([]byte, 32)})
	if err != nil {
		b.Fatal(err)
	}
	req := &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.srv.Decrypt(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

type benchHarness struct {
	srv   *Server
	keyID string
}

func newBenchHarness(b *testing.B) benchHarness {
	h := newHarnessTB(b)
	resp, err := h.srv.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	return benchHarness{srv: h.srv, keyID: resp.GetKeyMetadata().GetKeyId()}
}
