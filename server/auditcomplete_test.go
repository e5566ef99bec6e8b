package server

import (
	"context"
	"flag"
	"fmt"
	"math/bits"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var auditOps = flag.Int("audit-ops", 3000, "requests in TestAuditCompleteness (the soak tier runs 100,000)")

// TestAuditCompleteness (TESTPLAN A1, on one node): a mix of successful
// calls, validation errors, unknown keys and state errors from 16
// concurrent callers through gRPC and the Raft log; every answered request
// has exactly one record, with its requestID, its event name and the
// exception it was answered with.
func TestAuditCompleteness(t *testing.T) {
	h := newClusterHarness(t)
	ctx := context.Background()
	md, err := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kid := md.GetKeyMetadata().GetKeyId()
	disabled, err := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: disabled.GetKeyMetadata().GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	blob, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: kid, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	type answered struct{ name, exception string }
	calls := []func(int, grpc.CallOption) (string, error){
		func(i int, o grpc.CallOption) (string, error) {
			_, err := h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: kid, NumberOfBytes: 32}, o)
			return "GenerateDataKey", err
		},
		func(i int, o grpc.CallOption) (string, error) {
			_, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: kid}, o) // no plaintext
			return "Encrypt", err
		},
		func(i int, o grpc.CallOption) (string, error) {
			_, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob.GetCiphertextBlob()}, o)
			return "Decrypt", err
		},
		func(i int, o grpc.CallOption) (string, error) {
			_, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: fmt.Sprintf("alias/missing-%d", i)}, o)
			return "DescribeKey", err
		},
		func(i int, o grpc.CallOption) (string, error) {
			_, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: disabled.GetKeyMetadata().GetKeyId(), Plaintext: []byte("x")}, o)
			return "Encrypt", err
		},
		func(i int, o grpc.CallOption) (string, error) {
			_, err := h.client.TagResource(ctx, &kmsv1.TagResourceRequest{KeyId: kid, Tags: []*kmsv1.Tag{{TagKey: "n", TagValue: fmt.Sprint(i)}}}, o)
			return "TagResource", err
		},
	}
	var mu sync.Mutex
	byRequest := map[string]answered{}
	var wg sync.WaitGroup
	const workers = 16
	for w := range workers {
		wg.Go(func() {
			for i := w; i < *auditOps; i += workers {
				var hdr metadata.MD
				// A cheap deterministic shuffle of the call kinds.
				name, err := calls[bits.RotateLeft32(uint32(i)*2654435761, 7)%uint32(len(calls))](i, grpc.Header(&hdr))
				ids := hdr.Get(HeaderRequestID)
				if len(ids) != 1 {
					t.Errorf("%s: no request id (%v)", name, err)
					return
				}
				mu.Lock()
				byRequest[ids[0]] = answered{name, ExceptionName(err)}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	recs := h.allRecords(t)
	seen := map[string]int{}
	exceptions := map[string]int{}
	for _, r := range recs {
		e, err := audit.ParseEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		seen[e.RequestID]++
		want, ok := byRequest[e.RequestID]
		if !ok {
			continue // set-up calls and the reads of the log
		}
		if e.EventName != want.name || e.ErrorCode != want.exception {
			t.Errorf("request %s: record %s/%q, answered %s/%q", e.RequestID, e.EventName, e.ErrorCode, want.name, want.exception)
		}
		exceptions[e.ErrorCode]++
	}
	missing, dups := 0, 0
	for id := range byRequest {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	if missing != 0 || dups != 0 || len(byRequest) != *auditOps {
		t.Fatalf("%d answered requests: %d without a record, %d with several", len(byRequest), missing, dups)
	}
	if len(exceptions) < 4 {
		t.Fatalf("outcomes %v: the mix is not varied", exceptions)
	}
	t.Logf("%d answered requests, each recorded once; outcomes %v", len(byRequest), exceptions)
}
