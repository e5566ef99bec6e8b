package e2e

import (
	"context"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var corruptTrials = flag.Int("corrupt-trials", 4, "trials of TestCorruptionOnAMinority (D5: 50)")

// TestCorruptionOnAMinority (D5): one byte of a random file in a stopped
// follower's data directory is flipped, or the file is cut short. The
// follower either refuses to start (and, its directory wiped, catches up
// from the others) or starts with exactly the others' state; in every
// trial, every acknowledged key is on every member afterwards, so the
// damaged member never led the cluster with committed entries missing.
func TestCorruptionOnAMinority(t *testing.T) {
	ds := startClusterWith(t, t.TempDir(), 3, func(*daemon, string) []string {
		return []string{"--snapshot-threshold", "200", "--snapshot-interval", "1s", "--trailing-logs", "100"}
	})
	ctx := context.Background()
	var acked []string
	create := func(n int, via []*daemon) {
		t.Helper()
		for i := range n {
			for attempt := 0; ; attempt++ {
				k, err := via[i%len(via)].client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "acked"})
				if err == nil {
					acked = append(acked, k.GetKeyMetadata().GetKeyId())
					break
				}
				if attempt > 50 {
					t.Fatal(err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
	create(60, ds)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 5))
	refused, served := 0, 0
	for trial := range *corruptTrials {
		leader := leaderOf(t, ds)
		f := without(ds, leader)[trial%2]
		f.stop()
		create(20, without(ds, f)) // the others go on while it is down
		file, what := corrupt(t, rng, f.dataDir)
		f.launch()
		if err := f.waitReady(15 * time.Second); err != nil {
			refused++
			t.Logf("trial %d: %s %s: the member did not come back (%v); wiping it", trial, what, file, err)
			f.stop()
			if err := os.RemoveAll(f.dataDir); err != nil {
				t.Fatal(err)
			}
			f.launch()
			if err := f.waitReady(30 * time.Second); err != nil {
				t.Fatalf("trial %d: the wiped member did not come back: %v\n%s", trial, err, tail(f.log.String(), 30))
			}
		} else {
			served++
			t.Logf("trial %d: %s %s: the member came back", trial, what, file)
		}
		create(5, ds)
		checkInvariants(t, ds)
		for _, d := range ds {
			c := d.client()
			for _, id := range acked {
				if _, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
					t.Fatalf("trial %d: acknowledged key %s missing on %s: %v", trial, id, d.grpcAddr, err)
				}
			}
		}
	}
	t.Logf("%d trials: %d refused to start and were rebuilt, %d came back; %d acknowledged keys on every member",
		*corruptTrials, refused, served, len(acked))
}

// corrupt flips one byte of a random non-empty file under dir, or cuts it
// short, and says which and what.
func corrupt(t *testing.T, rng *rand.Rand, dir string) (string, string) {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && d.Name() != "LOCK" {
			if fi, err := d.Info(); err == nil && fi.Size() > 0 {
				files = append(files, p)
			}
		}
		return nil
	})
	if len(files) == 0 {
		t.Fatal("no data files")
	}
	p := files[rng.IntN(len(files))]
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(dir, p)
	var what string
	if rng.IntN(2) == 0 {
		i := rng.IntN(len(b))
		b[i] ^= byte(1 + rng.IntN(255))
		what = fmt.Sprintf("flipped byte %d of %d in", i, len(b))
	} else {
		n := rng.IntN(len(b))
		b = b[:n]
		what = fmt.Sprintf("cut to %d of", n)
	}
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(rel, "./"), what
}
