package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// BenchmarkStartupWith10kKeys creates 10,000 keys, restarts kmsd and
// reports the time until it is ready again and its resident memory after a
// pass of Encrypt calls over every key (the targets: start-up ≤ 2 s and RSS
// ≤ 150 MiB). Run it with
//
//	go test -run '^$' -bench StartupWith10kKeys -benchtime 1x ./e2e
func BenchmarkStartupWith10kKeys(b *testing.B) {
	const keys = 10_000
	for b.Loop() {
		d := startDaemon(b)
		ids := createKeys(b, d, keys)
		d.stop()
		start := time.Now()
		d.start()
		ready := time.Since(start)
		c := d.client()
		for _, id := range ids {
			if _, err := c.Encrypt(context.Background(), &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(ready.Milliseconds()), "startup-ms")
		b.ReportMetric(rssMiB(b, d.cmd.Process.Pid), "rss-MiB")
		d.stop()
	}
}

func createKeys(tb testing.TB, d *daemon, n int) []string {
	c := d.client()
	ids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				resp, err := c.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{Description: "scale"})
				if err != nil {
					tb.Error(err)
					return
				}
				ids[i] = resp.GetKeyMetadata().GetKeyId()
			}
		}()
	}
	wg.Wait()
	if tb.Failed() {
		tb.FailNow()
	}
	return ids
}

// rssMiB reads a process's resident set size from /proc.
func rssMiB(tb testing.TB, pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}
