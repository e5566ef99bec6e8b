package server

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/grpc"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// BenchmarkAuthenticatedGenerateDataKey: GenerateDataKey through gRPC on
// loopback with 64 concurrent callers, with and without signed requests
// (the audit log off in both, so the disk does not drown the difference).
// Compare the two ns/op of one run.
func BenchmarkAuthenticatedGenerateDataKey(b *testing.B) {
	for _, authenticated := range []bool{false, true} {
		b.Run(fmt.Sprintf("auth=%v", authenticated), func(b *testing.B) {
			a := newAuthServer(b, func(c *Config) { c.Authenticate = authenticated; c.DisableAudit = true })
			var conn *grpc.ClientConn
			if authenticated {
				conn = a.signed(b, a.root, a.clock.Now)
			} else {
				conn = a.conn(b)
			}
			client := kmsv1.NewKeyManagementServiceClient(conn)
			k, err := client.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
			if err != nil {
				b.Fatal(err)
			}
			req := &kmsv1.GenerateDataKeyRequest{KeyId: k.GetKeyMetadata().GetKeyId(), NumberOfBytes: 32}
			b.SetParallelism(32) // 64 callers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.GenerateDataKey(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
