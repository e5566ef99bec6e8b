package e2e

import (
	"bytes"
	"context"
	"flag"
	"sync"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var crashRounds = flag.Int("crash-rounds", 5, "kill -9 / restart rounds in TestKillNineLosesNothing")

// TestKillNineLosesNothing creates keys and ciphertexts in bursts, kills
// kmsd with SIGKILL while requests are in flight, restarts it on the same
// data directory and checks that every acknowledged key exists and every
// acknowledged ciphertext decrypts (D3).
func TestKillNineLosesNothing(t *testing.T) {
	d := startDaemon(t, "--snapshot-threshold", "64", "--snapshot-interval", "1s")
	type acked struct {
		keyID string
		blob  []byte
		pt    []byte
	}
	var all []acked
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
					k, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "crash"})
					if err != nil {
						return
					}
					pt := []byte{byte(round), byte(w), byte(i), byte(i >> 8)}
					e, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: k.GetKeyMetadata().GetKeyId(), Plaintext: pt})
					mu.Lock()
					a := acked{keyID: k.GetKeyMetadata().GetKeyId()}
					if err == nil {
						a.blob, a.pt = e.GetCiphertextBlob(), pt
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
	if len(all) < *crashRounds {
		t.Fatalf("only %d keys acknowledged in %d rounds; the test did no work", len(all), *crashRounds)
	}
	t.Logf("%d rounds, %d acknowledged keys, all found; restart times %v", *crashRounds, len(all), startups)
}
