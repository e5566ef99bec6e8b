package e2e

import (
	"bytes"
	"context"
	"flag"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	"github.com/kmsd/kmsd/server"
)

var crashRounds = flag.Int("crash-rounds", 5, "kill -9 / restart rounds in TestKillNineLosesNothing")

// TestKillNineLosesNothing creates keys and ciphertexts in bursts, kills
// kmsd with SIGKILL while requests are in flight, restarts it on the same
// data directory and checks that every acknowledged key exists and every
// acknowledged ciphertext decrypts (D3), and that every acknowledged
// request has exactly one audit record.
func TestKillNineLosesNothing(t *testing.T) {
	d := startDaemon(t, "--snapshot-threshold", "64", "--snapshot-interval", "1s")
	type acked struct {
		keyID string
		blob  []byte
		pt    []byte
	}
	var all []acked
	var eventIDs []string
	var startups []time.Duration
	for round := range *crashRounds {
		c := d.client()
		var mu sync.Mutex
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					var h1, h2 metadata.MD
					k, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "crash"}, grpc.Header(&h1))
					if err != nil {
						return
					}
					pt := []byte{byte(round), byte(w), byte(i), byte(i >> 8)}
					e, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: k.GetKeyMetadata().GetKeyId(), Plaintext: pt}, grpc.Header(&h2))
					mu.Lock()
					a := acked{keyID: k.GetKeyMetadata().GetKeyId()}
					eventIDs = append(eventIDs, h1.Get(server.HeaderEventID)...)
					if err == nil {
						a.blob, a.pt = e.GetCiphertextBlob(), pt
						eventIDs = append(eventIDs, h2.Get(server.HeaderEventID)...)
					}
					all = append(all, a)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		d.kill()
		cancel()
		wg.Wait()
		start := time.Now()
		d.start()
		startups = append(startups, time.Since(start))
	}
	c := d.client()
	ctx := context.Background()
	for _, a := range all {
		if _, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: a.keyID}); err != nil {
			t.Fatalf("acknowledged key %s lost: %v", a.keyID, err)
		}
		if a.blob == nil {
			continue
		}
		dec, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: a.blob})
		if err != nil || !bytes.Equal(dec.GetPlaintext(), a.pt) {
			t.Fatalf("acknowledged ciphertext under %s does not decrypt: %v", a.keyID, err)
		}
	}
	recorded := map[string]int{}
	for _, e := range d.auditRecords() {
		recorded[e.GetEventId()]++
	}
	for id, n := range recorded {
		if n != 1 {
			t.Fatalf("event %s recorded %d times", id, n)
		}
	}
	for _, id := range eventIDs {
		if recorded[id] != 1 {
			t.Fatalf("acknowledged request %s has no audit record", id)
		}
	}
	if len(eventIDs) < 2*len(all)-len(all)/2 {
		t.Fatalf("only %d event ids for %d keys: responses lack the header", len(eventIDs), len(all))
	}
	if len(all) < *crashRounds {
		t.Fatalf("only %d keys acknowledged in %d rounds; the test did no work", len(all), *crashRounds)
	}
	t.Logf("%d rounds, %d acknowledged keys, all found, %d acknowledged requests all recorded once (%d records); restart times %v",
		*crashRounds, len(all), len(eventIDs), len(recorded), startups)
}
