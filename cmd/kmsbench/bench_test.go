package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func TestHistogramQuantiles(t *testing.T) {
	ms := time.Millisecond
	seq := func(n int, unit time.Duration) []time.Duration {
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(i+1) * unit
		}
		return d
	}
	tests := []struct {
		name          string
		values        []time.Duration
		p50, p99, max time.Duration
		mean          time.Duration
		tolerance     float64 // relative; exact below 256 ns and at min/max
	}{
		{"empty", nil, 0, 0, 0, 0, 0},
		{"single", []time.Duration{5 * ms}, 5 * ms, 5 * ms, 5 * ms, 5 * ms, 0},
		{"1..100ns exact", seq(100, 1), 50, 99, 100, 50, 0}, // mean 50.5 truncated
		{"1..1000ns", seq(1000, 1), 500, 990, 1000, 500, 1.0 / 128},
		{"1..10000µs", seq(10000, time.Microsecond), 5000 * time.Microsecond, 9900 * time.Microsecond, 10 * ms, 5000500 * time.Nanosecond, 1.0 / 128},
		{"99 fast 1 slow", append(slices.Repeat([]time.Duration{ms}, 99), 100*ms), ms, ms, 100 * ms, 1990 * time.Microsecond, 1.0 / 128},
		{"unsorted", []time.Duration{30, 10, 20}, 20, 30, 30, 20, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := new(histogram)
			for _, v := range tt.values {
				h.record(v)
			}
			check := func(what string, got, want time.Duration, tol float64) {
				t.Helper()
				diff := float64(got - want)
				if diff < 0 {
					diff = -diff
				}
				if diff > tol*float64(want) {
					t.Errorf("%s = %v, want %v (±%.2f%%)", what, got, want, tol*100)
				}
			}
			check("p50", h.quantile(0.50), tt.p50, tt.tolerance)
			check("p99", h.quantile(0.99), tt.p99, tt.tolerance)
			check("p100", h.quantile(1), tt.max, 0)
			check("max", time.Duration(h.max), tt.max, 0)
			check("mean", h.mean(), tt.mean, 0)
			if int(h.n) != len(tt.values) {
				t.Errorf("n = %d, want %d", h.n, len(tt.values))
			}
		})
	}
}

func TestHistogramMerge(t *testing.T) {
	var a, b, all histogram
	for i := range 1000 {
		d := time.Duration(i*i) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	if a != all {
		t.Errorf("merged histogram differs from one recorded directly")
	}
}

func TestBucketRange(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 127, 128, 255, 256, 257, 511, 512, 1000, 1 << 20, 1<<20 + 12345, 1<<40 - 1, 1 << 62, 1<<63 - 1} {
		i := bucketIndex(v)
		low, width := bucketRange(i)
		if v < low || v-low >= width {
			t.Errorf("value %d in bucket %d = [%d, %d+%d)", v, i, low, low, width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/128 {
			t.Errorf("bucket %d: width %d is over 1/128 of %d", i, width, low)
		}
		if i < prev || i >= histBuckets {
			t.Errorf("value %d: index %d after %d (of %d)", v, i, prev, histBuckets)
		}
		prev = i
	}
}

func TestParseStatCPU(t *testing.T) {
	tail := " 1 0 0 0 -1 4194560 100 0 0 0 %s %s 0 0 20 0 1 0 12345 1000 100"
	tests := []struct {
		name, stat string
		want       uint64
		ok         bool
	}{
		{"plain", "1234 (kmsd) S" + sprintf(tail, "250", "50"), 300, true},
		{"spaces and parens in comm", "1234 (a) b (c) R" + sprintf(tail, "7", "3"), 10, true},
		{"no comm", "1234 kmsd S 1 2 3", 0, false},
		{"short", "1234 (kmsd) S 1 0 0", 0, false},
		{"not a number", "1234 (kmsd) S" + sprintf(tail, "x", "3"), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err == nil) != tt.ok || got != tt.want {
				t.Errorf("parseStatCPU = %d, %v; want %d, ok=%v", got, err, tt.want, tt.ok)
			}
		})
	}
}

func sprintf(format string, a ...string) string {
	for _, s := range a {
		format = strings.Replace(format, "%s", s, 1)
	}
	return format
}

func TestProcCPUOfThisProcess(t *testing.T) {
	pid := os.Getpid()
	before, err := procCPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	selfBefore, err := selfCPU()
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until /proc shows it (one clock tick is usually 10 ms).
	var sum [32]byte
	deadline := time.Now().Add(10 * time.Second)
	after := before
	for after <= before && time.Now().Before(deadline) {
		for range 20000 {
			sum = sha256.Sum256(sum[:])
		}
		if after, err = procCPU(pid); err != nil {
			t.Fatal(err)
		}
	}
	if after <= before || after <= 0 {
		t.Errorf("procCPU went from %v to %v after busy work", before, after)
	}
	selfAfter, err := selfCPU()
	if err != nil {
		t.Fatal(err)
	}
	if selfAfter <= selfBefore {
		t.Errorf("selfCPU went from %v to %v after busy work", selfBefore, selfAfter)
	}
	if _, err := procCPU(-1); err == nil {
		t.Errorf("procCPU(-1) succeeded")
	}
}

// dialTest serves impl and returns a client of it.
func dialTest(t *testing.T, impl kmsv1.KeyManagementServiceServer) []kmsv1.KeyManagementServiceClient {
	t.Helper()
	addr, stop, err := serve(impl)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	clients, closeClients, err := dial(addr, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeClients)
	return clients
}

func testBench(op Op) benchConfig {
	return benchConfig{Op: op, KeyID: echoKeyARN, Concurrency: 4, Duration: 100 * time.Millisecond,
		Warmup: 20 * time.Millisecond, PlaintextSize: 32, CiphertextOverhead: defaultCiphertextOverhead}
}

func TestRunBenchAgainstEcho(t *testing.T) {
	clients := dialTest(t, newEchoServer(defaultCiphertextOverhead))
	for _, op := range allOps {
		t.Run(string(op), func(t *testing.T) {
			cfg := testBench(op)
			r, err := runBench(t.Context(), cfg, clients)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d ops in %v, p50 %v, p99 %v, max %v, %d verified", op, r.Ops, r.Elapsed, r.P50, r.P99, r.Max, r.Verified)
			if r.Ops <= 0 || r.failed() || r.Errors != nil {
				t.Fatalf("ops %d, errors %v, wrong %d %q", r.Ops, r.Errors, r.Wrong, r.WrongSamples)
			}
			if r.P50 <= 0 || r.P50 > r.P99 || r.P99 > r.Max {
				t.Errorf("p50 %v, p99 %v, max %v: want 0 < p50 ≤ p99 ≤ max", r.P50, r.P99, r.Max)
			}
			if r.Elapsed != cfg.Duration || r.Op != op || r.Concurrency != cfg.Concurrency {
				t.Errorf("result describes %s at %d over %v", r.Op, r.Concurrency, r.Elapsed)
			}
			if (op == OpGenerateDataKey || op == OpEncrypt) && r.Verified < int64(cfg.Concurrency) {
				t.Errorf("%d samples verified, want one per worker at least", r.Verified)
			}
			if r.ProcessCPU <= 0 || r.HasServerCPU {
				t.Errorf("process CPU %v, server CPU measured %v", r.ProcessCPU, r.HasServerCPU)
			}
		})
	}
}

func TestRunBenchMaxOpsAndServerPID(t *testing.T) {
	clients := dialTest(t, newEchoServer(defaultCiphertextOverhead))
	cfg := testBench(OpGenerateDataKey)
	cfg.Duration, cfg.MaxOps, cfg.ServerPIDs = 10*time.Second, 50, []int{os.Getpid()}
	r, err := runBench(t.Context(), cfg, clients)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 50 || r.failed() {
		t.Errorf("ops %d (want 50), errors %v, wrong %d", r.Ops, r.Errors, r.Wrong)
	}
	if r.Elapsed <= 0 || r.Elapsed >= cfg.Duration {
		t.Errorf("elapsed %v: want the time the 50 calls took", r.Elapsed)
	}
	if !r.HasServerCPU {
		t.Errorf("server CPU not measured")
	}
	cfg.ServerPIDs = []int{-1}
	if _, err := runBench(t.Context(), cfg, clients); err == nil {
		t.Errorf("runBench with a bad server pid succeeded")
	}
}

// liar answers like the echo server but breaks one thing.
type liar struct {
	*echoServer
	flipDecrypt bool // Decrypt returns a different plaintext
	shortBlob   bool // GenerateDataKey returns a truncated ciphertext
	deny        bool // Encrypt fails with AccessDeniedException
}

func (l *liar) Decrypt(ctx context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	r, err := l.echoServer.Decrypt(ctx, req)
	if err == nil && l.flipDecrypt {
		r.Plaintext = append([]byte{r.Plaintext[0] ^ 1}, r.Plaintext[1:]...)
	}
	return r, err
}

func (l *liar) GenerateDataKey(ctx context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	r, err := l.echoServer.GenerateDataKey(ctx, req)
	if err == nil && l.shortBlob {
		r.CiphertextBlob = r.CiphertextBlob[:len(r.CiphertextBlob)-1]
	}
	return r, err
}

func (l *liar) Encrypt(ctx context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	if l.deny {
		return nil, echoError(codes.PermissionDenied, "AccessDeniedException")
	}
	return l.echoServer.Encrypt(ctx, req)
}

func TestRunBenchCatchesWrongResults(t *testing.T) {
	tests := []struct {
		name      string
		liar      liar
		op        Op
		wrong     string // a substring of a reported wrong result
		errorKey  string // a counted error
		failsPool bool
	}{
		{"data key does not decrypt back", liar{flipDecrypt: true}, OpGenerateDataKey, "sampled ciphertext: plaintext differs", "", false},
		{"encrypt does not decrypt back", liar{flipDecrypt: true}, OpEncrypt, "sampled ciphertext: plaintext differs", "", false},
		{"decrypt returns another plaintext", liar{flipDecrypt: true}, OpDecrypt, "Decrypt: plaintext differs", "", false},
		{"short data key ciphertext", liar{shortBlob: true}, OpGenerateDataKey, "ciphertext is 141 bytes, want 142", "", false},
		{"encrypt denied", liar{deny: true}, OpEncrypt, "", "PermissionDenied/AccessDeniedException", false},
		{"decrypt pool cannot be made", liar{deny: true}, OpDecrypt, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := tt.liar
			l.echoServer = newEchoServer(defaultCiphertextOverhead)
			cfg := testBench(tt.op)
			cfg.Duration = 50 * time.Millisecond
			r, err := runBench(t.Context(), cfg, dialTest(t, &l))
			if tt.failsPool {
				if err == nil {
					t.Fatal("runBench succeeded without a Decrypt pool")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !r.failed() {
				t.Fatalf("run passed: %d ops", r.Ops)
			}
			if tt.wrong != "" && !slices.ContainsFunc(r.WrongSamples, func(s string) bool { return strings.Contains(s, tt.wrong) }) {
				t.Errorf("wrong results %q: none contains %q", r.WrongSamples, tt.wrong)
			}
			if tt.errorKey != "" && r.Errors[tt.errorKey] == 0 {
				t.Errorf("errors %v: no %q", r.Errors, tt.errorKey)
			}
		})
	}
}

func TestErrorKey(t *testing.T) {
	withInfo, _ := status.New(codes.NotFound, "no such key").WithDetails(&errdetails.ErrorInfo{Reason: "NotFoundException"})
	tests := []struct {
		err  error
		want string
	}{
		{withInfo.Err(), "NotFound/NotFoundException"},
		{status.Error(codes.Unavailable, "down"), "Unavailable"},
		{context.DeadlineExceeded, "DeadlineExceeded"},
		{errors.New("plain"), "Unknown"},
	}
	for i, tt := range tests {
		if got := errorKey(tt.err); got != tt.want {
			t.Errorf("%d: errorKey = %q, want %q", i, got, tt.want)
		}
	}
}

func TestParseFlags(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(c Config) bool
		ok    bool
	}{
		{"defaults", nil, nil, func(c Config) bool {
			return c.Endpoint == defaultEndpoint && slices.Equal(c.Ops, []Op{OpGenerateDataKey, OpEncrypt, OpDecrypt}) && slices.Equal(c.Concurrency, []int{64}) &&
				c.Duration == 10*time.Second && c.Warmup == time.Second && c.Conns == 1 && c.PlaintextSize == 32 && c.Echo
		}, true},
		{"env endpoint", nil, map[string]string{"KMS_ENDPOINT": "kms:9"}, func(c Config) bool { return c.Endpoint == "kms:9" }, true},
		{"flag beats env", []string{"--endpoint", "a:1"}, map[string]string{"KMS_ENDPOINT": "kms:9"}, func(c Config) bool { return c.Endpoint == "a:1" }, true},
		{"lists", []string{"--ops", "decrypt, GenerateDataKey", "--concurrency", "1,16,64"}, nil, func(c Config) bool {
			return slices.Equal(c.Ops, []Op{OpDecrypt, OpGenerateDataKey}) && slices.Equal(c.Concurrency, []int{1, 16, 64})
		}, true},
		{"echo-only implies echo", []string{"--echo=false", "--echo-only"}, nil, func(c Config) bool { return c.Echo && c.EchoOnly }, true},
		{"a cluster", []string{"--endpoint", "a:1,b:2,c:3", "--server-pid", "11,12,13", "--ops", "CreateKey"}, nil, func(c Config) bool {
			return c.Endpoint == "a:1,b:2,c:3" && slices.Equal(c.ServerPIDs, []int{11, 12, 13}) && slices.Equal(c.Ops, []Op{OpCreateKey})
		}, true},
		{"bad pid", []string{"--server-pid", "11,-2"}, nil, nil, false},
		{"a pid twice", []string{"--endpoint", "a:1,b:2", "--server-pid", "11,11"}, nil, nil, false},
		{"pids for other endpoints", []string{"--endpoint", "a:1,b:2,c:3", "--server-pid", "11,12"}, nil, nil, false},
		{"unknown op", []string{"--ops", "ReEncrypt"}, nil, nil, false},
		{"zero concurrency", []string{"--concurrency", "16,0"}, nil, nil, false},
		{"bad concurrency", []string{"--concurrency", "x"}, nil, nil, false},
		{"zero duration", []string{"--duration", "0s"}, nil, nil, false},
		{"plaintext too big", []string{"--plaintext-size", "4097"}, nil, nil, false},
		{"no conns", []string{"--conns", "0"}, nil, nil, false},
		{"stray argument", []string{"extra"}, nil, nil, false},
		{"help", []string{"-h"}, nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseFlags(tt.args, env(tt.env), io.Discard)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("config %+v", c)
			}
			if tt.name == "help" && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("-h: err = %v, want flag.ErrHelp", err)
			}
		})
	}
}

func TestRunCommand(t *testing.T) {
	addr, stop, err := startEcho(0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	common := []string{"--endpoint", addr, "--ops", "GenerateDataKey,Decrypt", "--concurrency", "1,2",
		"--duration", "50ms", "--warmup", "10ms", "--server-pid", strconv.Itoa(os.Getpid())}
	tests := []struct {
		name string
		args []string
		want []string // in the output
	}{
		{"text", nil, []string{"echo_ops/s", "GenerateDataKey", "Decrypt", "created key 1234abcd"}},
		{"json", []string{"--json", "--echo=false"}, []string{`"runs"`, `"server_cpu_us_per_call"`, `"op": "Decrypt"`}},
		{"echo only", []string{"--echo-only", "--server-pid", "0"}, []string{"proc_cpu_us/call"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			err := run(t.Context(), append(slices.Clone(common), tt.args...), func(string) string { return "" }, &out, &out)
			if err != nil {
				t.Fatalf("run: %v\n%s", err, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// countingEcho is an echo server that counts the calls it answers.
type countingEcho struct {
	*echoServer
	calls atomic.Int64
}

func (c *countingEcho) GenerateDataKey(ctx context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	c.calls.Add(1)
	return c.echoServer.GenerateDataKey(ctx, req)
}

// With several endpoints (a cluster's members) the callers spread over
// them evenly, and --ops CreateKey drives the mutation.
func TestRunSpreadsOverEndpoints(t *testing.T) {
	var servers []*countingEcho
	var addrs []string
	for range 3 {
		s := &countingEcho{echoServer: newEchoServer(0)}
		addr, stop, err := serve(s)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		servers, addrs = append(servers, s), append(addrs, addr)
	}
	var out strings.Builder
	args := []string{"--endpoint", strings.Join(addrs, ","), "--ops", "GenerateDataKey,CreateKey", "--concurrency", "6",
		"--duration", "200ms", "--warmup", "10ms", "--echo=false", "--key-id", echoKeyARN}
	if err := run(t.Context(), args, func(string) string { return "" }, &out, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	var total int64
	for _, s := range servers {
		total += s.calls.Load()
	}
	for i, s := range servers {
		if n := s.calls.Load(); n < total/6 {
			t.Errorf("endpoint %d answered %d of %d calls; want about a third", i, n, total)
		}
	}
	if !strings.Contains(out.String(), "CreateKey") {
		t.Errorf("no CreateKey row:\n%s", out.String())
	}
}
