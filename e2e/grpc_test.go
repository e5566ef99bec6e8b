package e2e

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestHealthAndReflection: the standard health service reports SERVING
// without credentials, so probes work, and in --dev server reflection lists
// the API for grpcurl.
func TestHealthAndReflection(t *testing.T) {
	d := startDaemon(t)
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	for _, svc := range []string{"", "kms.v1.KeyManagementService"} {
		// The health service follows readiness within a quarter second.
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("health of %q: %v %v", svc, resp.GetStatus(), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range resp.GetListServicesResponse().GetService() {
		found = found || s.GetName() == "kms.v1.KeyManagementService"
	}
	if !found {
		t.Fatalf("reflection does not list the API: %v", resp)
	}
}

// TestOversizedInput: plaintexts over 4096 bytes and messages over the
// per-request limit are refused, 1,000 times each, without memory growth
// (X1).
func TestOversizedInput(t *testing.T) {
	d := startDaemon(t)
	c := d.client()
	ctx := context.Background()
	k, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	id := k.GetKeyMetadata().GetKeyId()
	before := rssMiB(t, d.cmd.Process.Pid)
	big := make([]byte, 4097)
	huge := make([]byte, 1<<20)
	for range 1000 {
		_, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: big})
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("4097-byte plaintext: %v", err)
		}
		_, err = c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: huge})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("1 MiB request: %v", err)
		}
	}
	after := rssMiB(t, d.cmd.Process.Pid)
	t.Logf("RSS %.1f MiB before, %.1f MiB after 2,000 oversized requests", before, after)
	if after-before > 50 {
		t.Fatalf("RSS grew by %.1f MiB", after-before)
	}
}
