package main

import (
	"math"
	"math/bits"
	"time"
)

// histogram is a fixed-size log-linear latency histogram in nanoseconds, in
// the manner of HdrHistogram: values below 256 ns are exact, larger ones fall
// in buckets 1/128 of their magnitude wide, so any reported percentile is
// within 0.8% of a recorded value. Recording never allocates.
type histogram struct {
	counts   [histBuckets]uint64
	n        uint64
	sum      uint64
	min, max uint64
}

const (
	histSubBits = 7
	// Index e<<7 + v>>e with e = bits.Len64(v)-8 ≤ 56 and v>>e < 256.
	histBuckets = (64 - histSubBits + 1) << histSubBits
)

func bucketIndex(v uint64) int {
	if v < 2<<histSubBits {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1
	return e<<histSubBits + int(v>>e)
}

// bucketRange returns the lowest value in bucket i and the bucket's width.
func bucketRange(i int) (low, width uint64) {
	if i < 2<<histSubBits {
		return uint64(i), 1
	}
	e := i>>histSubBits - 1
	m := uint64(i&(1<<histSubBits-1) | 1<<histSubBits)
	return m << e, 1 << e
}

func (h *histogram) record(d time.Duration) {
	v := uint64(max(d, 0))
	h.counts[bucketIndex(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
	h.sum += v
}

func (h *histogram) merge(o *histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// quantile returns the nearest-rank q-quantile (0 < q ≤ 1): the value that
// at least q of the recorded values do not exceed. It reports the middle of
// the bucket, kept within [min, max], and the exact maximum for q = 1.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return time.Duration(h.max)
	}
	var cum uint64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			low, width := bucketRange(i)
			return time.Duration(min(max(low+width/2, h.min), h.max))
		}
	}
	panic("kmsbench: histogram count out of step with its buckets")
}

func (h *histogram) mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// result is the outcome of one run: one operation, one concurrency, one
// target.
type result struct {
	Op          Op
	Concurrency int
	// Ops counts successful calls started inside the timed window, over
	// Elapsed.
	Ops     int64
	Elapsed time.Duration
	P50     time.Duration
	P99     time.Duration
	Max     time.Duration
	Mean    time.Duration
	// Errors counts failed calls (warm-up included) by "Code" or
	// "Code/Reason".
	Errors map[string]int64
	// Wrong counts results that failed a check; WrongSamples describes the
	// first few.
	Wrong        int64
	WrongSamples []string
	// Verified counts sampled ciphertexts decrypted and compared after the
	// window.
	Verified int64
	// ServerCPU is the kmsd process's CPU time over the window (HasServerCPU
	// when it was measured); ProcessCPU is this process's.
	ServerCPU    time.Duration
	HasServerCPU bool
	ProcessCPU   time.Duration
}

func (r *result) opsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

func (r *result) errorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

func (r *result) failed() bool { return r.Wrong > 0 || r.errorCount() > 0 }

// perCallMicros returns d per timed call in microseconds.
func (r *result) perCallMicros(d time.Duration) float64 {
	if r.Ops == 0 {
		return 0
	}
	return float64(d) / float64(time.Microsecond) / float64(r.Ops)
}
