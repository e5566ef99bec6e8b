package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// benchConfig describes one run: one operation at one concurrency against
// one target. It is not changed by runBench.
type benchConfig struct {
	Op          Op
	KeyID       string
	Concurrency int
	// Duration is the timed window, after an untimed Warmup.
	Duration, Warmup time.Duration
	// MaxOps, when not 0, ends the run after that many timed calls.
	MaxOps             int64
	PlaintextSize      int
	CiphertextOverhead int
	// ServerPIDs are the server processes whose CPU time is read.
	ServerPIDs []int
}

const (
	// sampleEvery: each worker's 1st, 101st, 201st... result is decrypted
	// after the window, up to maxSamples per run.
	sampleEvery = 100
	maxSamples  = 2048
	// callGrace is how long past the window a call may take before it is
	// cancelled (and counted as Canceled); verifyTimeout bounds the decrypt
	// pass.
	callGrace     = 30 * time.Second
	verifyTimeout = time.Minute
	maxWrongShown = 5
)

// runBench performs one run. Worker i calls through clients[i%len(clients)].
// A failed call or a wrong result is counted in the result, not returned as
// an error; the error is for runs that could not be carried out.
func runBench(ctx context.Context, cfg benchConfig, clients []kmsv1.KeyManagementServiceClient) (result, error) {
	if len(clients) == 0 || cfg.Concurrency < 1 || cfg.Duration <= 0 {
		return result{}, errors.New("runBench: need a client, concurrency ≥ 1 and a positive duration")
	}
	meter := cpuMeter{pids: cfg.ServerPIDs}
	if _, err := meter.read(); err != nil {
		return result{}, err
	}
	var pool []sample
	if cfg.Op == OpDecrypt {
		var err error
		if pool, err = makePool(ctx, &cfg, clients); err != nil {
			return result{}, err
		}
	}
	workers := make([]*worker, cfg.Concurrency)
	for i := range workers {
		client := clients[i%len(clients)]
		workers[i] = &worker{
			client:     client,
			caller:     newCaller(&cfg, client, pool, i),
			hist:       new(histogram),
			maxSamples: max(1, maxSamples/cfg.Concurrency),
		}
	}
	start := time.Now().Add(cfg.Warmup)
	t := timing{start: start, stop: start.Add(cfg.Duration), maxOps: cfg.MaxOps}
	cpu, err := drive(ctx, workers, &t, meter)
	if err != nil {
		return result{}, err
	}
	verify(ctx, workers)
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	return collect(&cfg, workers, &t, cpu), nil
}

// timing is shared, read-only except for the ticket counter.
type timing struct {
	start, stop time.Time
	maxOps      int64
	tickets     atomic.Int64
}

// drive runs the workers' loops and returns the CPU time spent by the server
// and by this process between the start and the end of the timed window.
func drive(ctx context.Context, workers []*worker, t *timing, meter cpuMeter) (cpuSample, error) {
	// A deadline would travel with every call as a grpc-timeout header and
	// cost the server a timer per call; cancel late calls from a watchdog.
	callCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchdog := time.AfterFunc(time.Until(t.stop.Add(callGrace)), cancel)
	defer watchdog.Stop()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.loop(callCtx, t) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var c0, c1 cpuSample
	var err0, err1 error
	wait(ctx, done, t.start)
	c0, err0 = meter.read()
	wait(ctx, done, t.stop)
	c1, err1 = meter.read()
	<-done
	if err := errors.Join(err0, err1); err != nil {
		return cpuSample{}, err
	}
	return cpuSample{server: c1.server - c0.server, self: c1.self - c0.self}, nil
}

// wait returns at until, when done closes, or when ctx ends.
func wait(ctx context.Context, done <-chan struct{}, until time.Time) {
	timer := time.NewTimer(time.Until(until))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-done:
	case <-ctx.Done():
	}
}

// verify decrypts every worker's samples, the workers in parallel.
func verify(ctx context.Context, workers []*worker) {
	ctx, cancel := context.WithTimeout(ctx, verifyTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { w.verify(ctx) })
	}
	wg.Wait()
}

func collect(cfg *benchConfig, workers []*worker, t *timing, cpu cpuSample) result {
	r := result{Op: cfg.Op, Concurrency: cfg.Concurrency, Elapsed: cfg.Duration,
		ServerCPU: cpu.server, HasServerCPU: len(cfg.ServerPIDs) != 0, ProcessCPU: cpu.self}
	var h histogram
	var lastEnd time.Time
	for _, w := range workers {
		h.merge(w.hist)
		for k, n := range w.errors {
			if r.Errors == nil {
				r.Errors = make(map[string]int64)
			}
			r.Errors[k] += n
		}
		r.Wrong += w.wrong
		r.Verified += w.verified
		r.WrongSamples = append(r.WrongSamples, w.wrongMsgs...)
		if w.lastEnd.After(lastEnd) {
			lastEnd = w.lastEnd
		}
	}
	if t.maxOps > 0 && t.tickets.Load() > t.maxOps && lastEnd.After(t.start) {
		r.Elapsed = lastEnd.Sub(t.start) // ended by --max-ops, not by the clock
	}
	sort.Strings(r.WrongSamples)
	r.WrongSamples = r.WrongSamples[:min(len(r.WrongSamples), maxWrongShown)]
	r.Ops = int64(h.n)
	r.P50, r.P99, r.Max, r.Mean = h.quantile(0.50), h.quantile(0.99), time.Duration(h.max), h.mean()
	return r
}

// worker is one concurrent caller. Only its own goroutine touches it until
// the run ends.
type worker struct {
	client     kmsv1.KeyManagementServiceClient
	caller     caller
	hist       *histogram
	n          int64 // successful calls, for sampling
	lastEnd    time.Time
	errors     map[string]int64
	wrong      int64
	wrongMsgs  []string
	samples    []sample
	maxSamples int
	verified   int64
}

func (w *worker) loop(ctx context.Context, t *timing) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(t.stop) {
			return
		}
		timed := !t0.Before(t.start)
		if timed && t.maxOps > 0 && t.tickets.Add(1) > t.maxOps {
			return
		}
		err := w.caller.call(ctx)
		t1 := time.Now()
		if err != nil {
			w.countError(err)
			continue
		}
		w.n++
		w.caller.check(w, w.n%sampleEvery == 1)
		if timed {
			w.hist.record(t1.Sub(t0))
			w.lastEnd = t1
		}
	}
}

func (w *worker) verify(ctx context.Context) {
	for i := range w.samples {
		s := &w.samples[i]
		r, err := w.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: s.blob})
		if err != nil {
			w.wrongf("sampled ciphertext: Decrypt failed: %s", errorKey(err))
			continue
		}
		checkDecrypted(w, "sampled ciphertext", r, s)
		w.verified++
	}
}

func (w *worker) keep(s sample) {
	if len(w.samples) < w.maxSamples {
		w.samples = append(w.samples, s)
	}
}

func (w *worker) wrongf(format string, args ...any) {
	w.wrong++
	if len(w.wrongMsgs) < maxWrongShown {
		w.wrongMsgs = append(w.wrongMsgs, fmt.Sprintf(format, args...))
	}
}

func (w *worker) countError(err error) {
	if w.errors == nil {
		w.errors = make(map[string]int64)
	}
	w.errors[errorKey(err)]++
}

// errorKey names a failed call by its gRPC code and, when the status carries
// a google.rpc.ErrorInfo, its reason (the AWS exception name).
func errorKey(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		st = status.FromContextError(err)
	}
	for _, d := range st.Details() {
		if ei, ok := d.(*errdetails.ErrorInfo); ok && ei.Reason != "" {
			return st.Code().String() + "/" + ei.Reason
		}
	}
	return st.Code().String()
}
