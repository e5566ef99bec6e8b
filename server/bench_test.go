package server

import (
	"context"
	"fmt"
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

// BenchmarkAuditedGenerateDataKey runs GenerateDataKey through gRPC with
// 64 concurrent callers against a one-node Raft cluster, so every call's
// audit record is committed through the Raft log.
func BenchmarkAuditedGenerateDataKey(b *testing.B) {
	for _, audited := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%v", audited), func(b *testing.B) { benchGenerateDataKey(b, audited) })
	}
}

func benchGenerateDataKey(b *testing.B, audited bool) {
	h := newClusterHarnessAudit(b, audited)
	md, err := h.client.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
	if err != nil {
		b.Fatal(err)
	}
	req := &kmsv1.GenerateDataKeyRequest{KeyId: md.GetKeyMetadata().GetKeyId(), NumberOfBytes: 32}
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := h.client.GenerateDataKey(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
