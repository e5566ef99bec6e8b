package server

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkThrottle measures the quota check of one call (the caller's
// bucket and the node's), from parallel callers among 1,000 principals,
// next to the Decrypt handler it guards (BenchmarkDecryptHandler).
func BenchmarkThrottle(b *testing.B) {
	l := newLimiter(DefaultRateLimits)
	l.cfg.Global = Bucket{} // never empty, so every call takes the whole path
	l.global = newBucket(l.cfg.Global)
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		p := "arn:aws:iam::111122223333:user/u" + strconv.FormatInt(next.Add(1)%1000, 10)
		for pb.Next() {
			l.allow(p, "Decrypt")
		}
	})
}

// BenchmarkMetricsObserve measures counting one answered call.
func BenchmarkMetricsObserve(b *testing.B) {
	m := newMetrics()
	prometheus.NewRegistry().MustRegister(m.requests, m.latency, m.throttled)
	start := time.Now()
	err := toStatus(context.Background(), discardLogger, "/kms.v1.KeyManagementService/Decrypt", errors.New("x"))
	for _, c := range []struct {
		name string
		err  error
	}{{"ok", nil}, {"exception", err}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.observe("/kms.v1.KeyManagementService/Decrypt", start, c.err)
				}
			})
		})
	}
}
