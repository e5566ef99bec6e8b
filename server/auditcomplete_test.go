package server

import (
	"context"
	"flag"
	"fmt"
	"math/bits"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

var auditKills = flag.Int("audit-kills", 3, "leader kills in TestAuditCompletenessAcrossLeaderKills (the soak tier runs 50)")

// TestAuditCompletenessAcrossLeaderKills (TESTPLAN A1): 16 callers send a
// mix of calls to every member of a three-node cluster while the leader is
// killed again and again (and brought back). Every request a member
// answered has exactly one record in the replicated log, with its name and
// exception; requests refused because their record could not be made
// durable are not answered and need none.
func TestAuditCompletenessAcrossLeaderKills(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	ms := newMembers(t, 3, clock)
	ctx := context.Background()
	l := leaderOf(t, ms)
	md, err := l.kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	kid := md.GetKeyMetadata().GetKeyId()
	blob, err := l.kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: kid, Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, ms)
	type answered struct{ name, exception string }
	var mu sync.Mutex
	byRequest := map[string]answered{}
	notAnswered := 0
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				c := ms[(w+i)%len(ms)].kms
				var hdr metadata.MD
				var name string
				var err error
				cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
				switch i % 4 {
				case 0:
					name = "GenerateDataKey"
					_, err = c.GenerateDataKey(cctx, &kmsv1.GenerateDataKeyRequest{KeyId: kid, NumberOfBytes: 16}, grpc.Header(&hdr))
				case 1:
					name = "Decrypt"
					_, err = c.Decrypt(cctx, &kmsv1.DecryptRequest{CiphertextBlob: blob.GetCiphertextBlob()}, grpc.Header(&hdr))
				case 2:
					name = "DescribeKey"
					_, err = c.DescribeKey(cctx, &kmsv1.DescribeKeyRequest{KeyId: "alias/none"}, grpc.Header(&hdr))
				case 3:
					name = "TagResource"
					_, err = c.TagResource(cctx, &kmsv1.TagResourceRequest{KeyId: kid, Tags: []*kmsv1.Tag{{TagKey: "w", TagValue: fmt.Sprint(i)}}}, grpc.Header(&hdr))
				}
				cancel()
				exc := ExceptionName(err)
				ids := hdr.Get(HeaderRequestID)
				mu.Lock()
				ok := !(err != nil && (exc == "" || strings.Contains(err.Error(), "audit record")) || len(ids) != 1)
				if ok {
					byRequest[ids[0]] = answered{name, exc}
				} else {
					notAnswered++ // the member died, or the record could not be made durable
				}
				mu.Unlock()
				if !ok {
					time.Sleep(5 * time.Millisecond)
				}
			}
		})
	}
	var down *member
	for range *auditKills {
		time.Sleep(300 * time.Millisecond)
		if down != nil {
			down.boot()
		}
		down = leaderOf(t, alive(ms))
		down.stop()
	}
	if down != nil {
		down.boot()
	}
	// Go on until enough requests were answered to make the check mean
	// something (a loaded machine, or the race detector, elects slowly).
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(byRequest)
		mu.Unlock()
		if n >= 300 {
			break
		}
	}
	stop.Store(true)
	wg.Wait()
	waitApplied(t, ms)
	final := leaderOf(t, ms)
	recs, err := final.store.LogRecords(0, final.store.LogSize())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		e, err := audit.ParseEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		seen[e.RequestID]++
		if want, ok := byRequest[e.RequestID]; ok && (e.EventName != want.name || e.ErrorCode != want.exception) {
			t.Errorf("request %s: record %s/%q, answered %s/%q", e.RequestID, e.EventName, e.ErrorCode, want.name, want.exception)
		}
	}
	missing, dups := 0, 0
	for id := range byRequest {
		if seen[id] == 0 {
			missing++
		}
	}
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	if missing != 0 || dups != 0 {
		t.Fatalf("%d answered requests: %d without a record, %d records duplicated", len(byRequest), missing, dups)
	}
	if len(byRequest) < 200 {
		t.Fatalf("only %d answered requests: the test did little", len(byRequest))
	}
	t.Logf("%d leader kills: %d answered requests each recorded once, %d not answered (member down or record not durable), %d records",
		*auditKills, len(byRequest), notAnswered, len(recs))
}
