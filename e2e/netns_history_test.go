package e2e

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/server"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The workload TestNamespacedPartitions runs through every cycle, and the
// sequential model its history is checked against: a key is enabled or
// disabled; EnableKey and DisableKey set it, DescribeKey shows it, and
// Encrypt succeeds on an enabled key and fails with DisabledException on
// a disabled one. A read served from a state older than an acknowledged
// change does not fit the model.

type nsKind uint8

const (
	nsDescribe nsKind = iota
	nsEncrypt
	nsEnable
	nsDisable
)

var nsKindNames = [...]string{"Describe", "Encrypt", "Enable", "Disable"}

type nsInput struct {
	kind nsKind
	key  string
}

// nsOutput is a call's outcome: unknown for a change that may or may not
// have been made (recorded without a return time), else the exception
// name ("" on success) and, for DescribeKey, the KeyState.
type nsOutput struct {
	unknown bool
	exc     string
	state   string
}

const excDisabled = "DisabledException"

var nsModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string]int{}
		var parts [][]porcupine.Operation
		for _, op := range history {
			key := op.Input.(nsInput).key
			i, ok := byKey[key]
			if !ok {
				i = len(parts)
				byKey[key] = i
				parts = append(parts, nil)
			}
			parts[i] = append(parts[i], op)
		}
		return parts
	},
	// The state is whether the key is disabled; keys start enabled.
	Init: func() any { return false },
	Step: func(state, input, output any) (bool, any) {
		disabled, in, out := state.(bool), input.(nsInput), output.(nsOutput)
		switch in.kind {
		case nsDescribe:
			want := "Enabled"
			if disabled {
				want = "Disabled"
			}
			return out.exc == "" && out.state == want, disabled
		case nsEncrypt:
			return (out.exc == "" && !disabled) || (out.exc == excDisabled && disabled), disabled
		default:
			return out.unknown || out.exc == "", in.kind == nsDisable
		}
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(nsInput), output.(nsOutput)
		res := "ok"
		switch {
		case out.unknown:
			res = "unknown"
		case out.exc != "":
			res = out.exc
		case out.state != "":
			res = out.state
		}
		return fmt.Sprintf("%s(%s) -> %s", nsKindNames[in.kind], in.key[:8], res)
	},
}

// nsHistory records the workload's calls, times in nanoseconds since start.
type nsHistory struct {
	start time.Time
	mu    sync.Mutex
	ops   []porcupine.Operation
	// unknown counts changes of unknown outcome; procs hands out the ids of
	// new processes.
	unknown, procs int
}

// nothingDone reports whether a refusal says that nothing was done (the
// member could not reach the leader to read, was throttled, or was not
// reached at all). Anything else that fails a change leaves its outcome
// unknown.
func nothingDone(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "nothing was done") || strings.Contains(msg, "Error while dialing")
}

// do makes one call and records it, unless it was a read that failed
// without a definite answer. It reports whether the member answered.
func (h *nsHistory) do(c kmsv1.KeyManagementServiceClient, in nsInput, proc int) (answered, unknown bool) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	call := int64(time.Since(h.start))
	var out nsOutput
	var err error
	switch in.kind {
	case nsDescribe:
		var r *kmsv1.DescribeKeyResponse
		if r, err = c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: in.key}); err == nil {
			out.state = r.GetKeyMetadata().GetKeyState()
		}
	case nsEncrypt:
		_, err = c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: in.key, Plaintext: []byte("partition")})
	case nsEnable:
		_, err = c.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: in.key})
	case nsDisable:
		_, err = c.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: in.key})
	}
	ret := int64(time.Since(h.start))
	if err != nil {
		out.exc = server.ExceptionName(err)
		if out.exc != excDisabled {
			if in.kind == nsDescribe || in.kind == nsEncrypt || nothingDone(err) {
				return false, false
			}
			out, ret, unknown = nsOutput{unknown: true}, math.MaxInt64, true
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if unknown {
		h.unknown++
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: proc, Input: in, Call: call, Output: out, Return: ret})
	return !unknown, unknown
}

func (h *nsHistory) newProc() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.procs++
	return h.procs
}

// workload runs one client per member on keys until stop is closed. A
// client moves to another member after a call without an answer, and
// after a change of unknown outcome goes on as a new process, so that a
// process has at most one open call.
func (h *nsHistory) workload(clients []kmsv1.KeyManagementServiceClient, keys []string, seed uint64, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	for id := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(id)))
			proc, m := h.newProc(), id
			for {
				select {
				case <-stop:
					return
				default:
				}
				in := nsInput{kind: nsKind(rng.IntN(4)), key: keys[rng.IntN(len(keys))]}
				answered, unknown := h.do(clients[m], in, proc)
				if unknown {
					proc = h.newProc()
				}
				if !answered {
					m = (m + 1) % len(clients)
					time.Sleep(20 * time.Millisecond)
				} else {
					time.Sleep(time.Duration(rng.IntN(10)) * time.Millisecond)
				}
			}
		})
	}
	return &wg
}

// check runs porcupine over the history; on failure it returns the
// operations on the first key that is not linearizable (at most 150 of
// them) and writes porcupine's visualization of the history to a file
// it names.
func (h *nsHistory) check() (porcupine.CheckResult, string) {
	h.mu.Lock()
	ops := append([]porcupine.Operation(nil), h.ops...)
	h.mu.Unlock()
	res, info := porcupine.CheckOperationsVerbose(nsModel, ops, time.Minute)
	if res == porcupine.Ok {
		return res, ""
	}
	var b strings.Builder
	if f, err := os.CreateTemp("", "kmsd-r5-*.html"); err == nil {
		if err := porcupine.Visualize(nsModel, info, f); err == nil {
			fmt.Fprintf(&b, "  visualization: %s\n", f.Name())
		}
		f.Close()
	}
	for _, part := range nsModel.Partition(ops) {
		if porcupine.CheckOperationsTimeout(nsModel, part, 10*time.Second) != porcupine.Illegal {
			continue
		}
		sort.Slice(part, func(i, j int) bool { return part[i].Call < part[j].Call })
		for i, op := range part {
			if i == 150 {
				fmt.Fprintf(&b, "  ... and %d more\n", len(part)-i)
				break
			}
			ret := "inf"
			if op.Return != math.MaxInt64 {
				ret = fmt.Sprintf("%.3f", float64(op.Return)/1e9)
			}
			fmt.Fprintf(&b, "  p%-3d [%.3f, %s] %s\n", op.ClientId, float64(op.Call)/1e9, ret, nsModel.DescribeOperation(op.Input, op.Output))
		}
		break
	}
	return res, b.String()
}

// leaseProbe calls one member every 10 ms (each call on its own, so a
// call that waits does not delay the next) and records when each call
// began, when it returned, and whether the member served it, refused it
// (answered with an error) or did not answer before the call was given up.
type leaseProbe struct {
	mu    sync.Mutex
	calls []probeCall
	stop  chan struct{}
	// cancel gives up the calls still waiting when the probe stops.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type probeCall struct {
	start, end time.Time
	served     bool
	refused    bool
}

func startLeaseProbe(c kmsv1.KeyManagementServiceClient, key string) *leaseProbe {
	p := &leaseProbe{stop: make(chan struct{})}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	// At most 32 calls at once, well under the connection's stream limit,
	// so that no call waits in the client for a stream: a call's recorded
	// start is never before it was sent.
	sem := make(chan struct{}, 32)
	p.wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				continue
			}
			p.wg.Go(func() {
				defer func() { <-sem }()
				ctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
				defer cancel()
				start := time.Now()
				var err error
				if i%2 == 0 {
					_, err = c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: key})
				} else {
					_, err = c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: key, Plaintext: []byte("lease")})
				}
				call := probeCall{start: start, end: time.Now(), served: err == nil}
				// An answer, not a call the client gave up.
				call.refused = err != nil && ctx.Err() == nil && status.Code(err) != codes.DeadlineExceeded
				p.mu.Lock()
				p.calls = append(p.calls, call)
				p.mu.Unlock()
			})
		}
	})
	return p
}

// finish stops the probe and returns, relative to from, when the last
// call the member served began (negative if none began after from) and
// when the member first refused a call begun after from (its answer's
// arrival; negative if none).
func (p *leaseProbe) finish(from time.Time) (lastServed, firstRefused time.Duration) {
	close(p.stop)
	p.cancel()
	p.wg.Wait()
	lastServed, firstRefused = -1, -1
	for _, c := range p.calls {
		if c.start.Before(from) {
			continue
		}
		if d := c.start.Sub(from); c.served && d > lastServed {
			lastServed = d
		}
		if d := c.end.Sub(from); c.refused && (firstRefused < 0 || d < firstRefused) {
			firstRefused = d
		}
	}
	return lastServed, firstRefused
}

// staleProbe calls GenerateDataKey and Encrypt with one key on every
// member, two callers per member, back to back, and records every call.
type staleProbe struct {
	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	calls []staleCall
}

type staleCall struct {
	member     int
	start, end time.Time
	served     bool
}

func startStaleProbe(clients []kmsv1.KeyManagementServiceClient, key string) *staleProbe {
	p := &staleProbe{stop: make(chan struct{})}
	for m, c := range clients {
		for caller := range 2 {
			p.wg.Go(func() {
				for {
					select {
					case <-p.stop:
						return
					default:
					}
					ctx, cancel := context.WithTimeout(context.Background(), time.Second)
					start := time.Now()
					var err error
					if caller == 0 {
						_, err = c.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: key, NumberOfBytes: 32})
					} else {
						_, err = c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: key, Plaintext: []byte("stale?")})
					}
					cancel()
					p.mu.Lock()
					p.calls = append(p.calls, staleCall{m, start, time.Now(), err == nil})
					p.mu.Unlock()
					if err != nil {
						time.Sleep(5 * time.Millisecond)
					}
				}
			})
		}
	}
	return p
}

// staleWindow is a time in which the key is disabled for every caller:
// from a DisableKey's acknowledgement to the sending of the next EnableKey.
type staleWindow struct{ from, to time.Time }

// finish stops the callers and returns how many calls began and ended
// within a window, and how many of those each member served: each is a
// stale read.
func (p *staleProbe) finish(windows []staleWindow) (probes int, stale []int) {
	close(p.stop)
	p.wg.Wait()
	for _, c := range p.calls {
		for _, w := range windows {
			if c.start.After(w.from) && c.end.Before(w.to) {
				probes++
				if c.served {
					for len(stale) <= c.member {
						stale = append(stale, 0)
					}
					stale[c.member]++
				}
			}
		}
	}
	return probes, stale
}
