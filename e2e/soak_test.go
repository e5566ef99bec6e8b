package e2e

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var soakDuration = flag.Duration("soak-duration", 6*time.Second, "how long TestRandomKillsUnderLoad runs (R4: 3m)")

// TestRandomKillsUnderLoad (R4): three kmsd processes serve a mixed load
// (CreateKey, Encrypt, Decrypt through random members) while a random
// member is killed with SIGKILL every 2–5 s and restarted, or paused with
// SIGSTOP for up to 5 s. At the end: every restart succeeded, no
// acknowledged key is lost, every acknowledged ciphertext decrypts, and at
// least 90 % of the seconds saw a successful write.
func TestRandomKillsUnderLoad(t *testing.T) {
	ds := startCluster(t, 3)
	ctx := context.Background()
	seed, err := ds[0].client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "soak"})
	if err != nil {
		t.Fatal(err)
	}
	keyID := seed.GetKeyMetadata().GetKeyId()

	type sealed struct{ plain, blob []byte }
	var mu sync.Mutex
	var keys []string
	var blobs []sealed
	writeSeconds := map[int64]bool{}
	writeErrors := map[int64]string{} // the first failed write of each second
	start := time.Now()
	deadline := start.Add(*soakDuration)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := ds[(w+i)%3]
				// A client gives up on a call after 1 s and goes on with
				// the next member: a paused member accepts connections
				// and never answers, and with longer deadlines every
				// writer soon waits on it, which measures the clients
				// rather than the cluster.
				cctx, cancel := context.WithTimeout(ctx, time.Second)
				// A connection per call, closed after it: one kept per
				// call until the end would pile up to kmsd's connection
				// limit, which then holds further ones back.
				conn := d.dial()
				c := kmsv1.NewKeyManagementServiceClient(conn)
				var err error
				switch i % 3 {
				case 0:
					var k *kmsv1.CreateKeyResponse
					k, err = c.CreateKey(cctx, &kmsv1.CreateKeyRequest{Description: "soak"})
					sec := int64(time.Since(start) / time.Second)
					mu.Lock()
					if err == nil {
						keys = append(keys, k.GetKeyMetadata().GetKeyId())
						writeSeconds[sec] = true
					} else if _, seen := writeErrors[sec]; !seen {
						writeErrors[sec] = fmt.Sprintf("%s: %v", d.grpcAddr, err)
					}
					mu.Unlock()
				case 1:
					p := make([]byte, 24)
					crand.Read(p)
					var e *kmsv1.EncryptResponse
					e, err = c.Encrypt(cctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: p})
					if err == nil {
						mu.Lock()
						blobs = append(blobs, sealed{p, e.GetCiphertextBlob()})
						mu.Unlock()
					}
				default:
					mu.Lock()
					var s sealed
					if len(blobs) > 0 {
						s = blobs[len(blobs)-1]
					}
					mu.Unlock()
					if s.blob != nil {
						var dec *kmsv1.DecryptResponse
						if dec, err = c.Decrypt(cctx, &kmsv1.DecryptRequest{CiphertextBlob: s.blob}); err == nil && !bytes.Equal(dec.GetPlaintext(), s.plain) {
							t.Errorf("a ciphertext decrypted to the wrong plaintext")
						}
					}
				}
				cancel()
				conn.Close()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4))
	kills, pauses := 0, 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(2000+rng.IntN(3000)) * time.Millisecond)
		d := ds[rng.IntN(3)]
		if rng.IntN(4) == 0 {
			t.Logf("%.1f s: pause %s", time.Since(start).Seconds(), d.grpcAddr)
			pauses++
			d.cmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(time.Duration(1000+rng.IntN(4000)) * time.Millisecond)
			d.cmd.Process.Signal(syscall.SIGCONT)
			continue
		}
		kills++
		t.Logf("%.1f s: kill %s", time.Since(start).Seconds(), d.grpcAddr)
		d.kill()
		d.launch()
		if err := d.waitReady(30 * time.Second); err != nil {
			t.Fatalf("restart %d failed: %v\n%s", kills, err, tail(d.log.String(), 30))
		}
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)

	checkInvariants(t, ds)
	var lost sync.Once
	for _, d := range ds {
		c := d.client()
		for w := range 4 {
			wg.Go(func() {
				for i := w; i < len(keys); i += 4 {
					if _, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keys[i]}); err != nil {
						lost.Do(func() { t.Errorf("acknowledged key %s missing on %s: %v", keys[i], d.grpcAddr, err) })
					}
				}
			})
		}
	}
	for w := range 8 {
		c := ds[w%3].client()
		wg.Go(func() {
			for i := w; i < len(blobs); i += 8 {
				dec, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blobs[i].blob})
				if err != nil || !bytes.Equal(dec.GetPlaintext(), blobs[i].plain) {
					lost.Do(func() { t.Errorf("an acknowledged ciphertext does not decrypt: %v", err) })
				}
			}
		})
	}
	wg.Wait()
	seconds := int((elapsed + time.Second - 1) / time.Second)
	var missing []int
	for i := 0; i < seconds; i++ {
		if !writeSeconds[int64(i)] {
			missing = append(missing, i)
		}
	}
	t.Logf("seconds without a write: %v", missing)
	for _, sec := range missing {
		if e, ok := writeErrors[int64(sec)]; ok {
			t.Logf("  %d s: %.300s", sec, e)
		}
	}
	t.Logf("%v: %d kills, %d pauses; %d keys and %d ciphertexts acknowledged, all there; %d of %d seconds had a successful write",
		elapsed.Round(time.Second), kills, pauses, len(keys), len(blobs), len(writeSeconds), seconds)
	// The plan's figure is for a long run; in a short one a single
	// failover is a large share of the seconds.
	want := 90
	if elapsed < time.Minute {
		want = 50
	}
	if len(writeSeconds)*100 < seconds*want {
		t.Errorf("only %d of %d seconds had a successful write, want at least %d %%", len(writeSeconds), seconds, want)
	}
}
