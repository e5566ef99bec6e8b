package awsapi

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// BenchmarkEncrypt compares one Encrypt through the AWS endpoint (AWS SDK,
// SigV4, JSON) with one through gRPC (kmsd's signing, protobuf), against
// the same in-process server; the difference is the cost of the AWS front
// door. Report the two as a ratio.
func BenchmarkEncrypt(b *testing.B) {
	e := newTestEnv(b)
	ctx := context.Background()
	c := e.sdk(e.root)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		b.Fatal(err)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	pt := make([]byte, 32)
	b.Run("aws", func(b *testing.B) {
		in := &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: pt}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := c.Encrypt(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("grpc", func(b *testing.B) {
		g := kmsv1.NewKeyManagementServiceClient(e.conn(b, e.root))
		in := &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: pt}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := g.Encrypt(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
