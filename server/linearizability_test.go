package server

import (
	"context"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var (
	linSeeds    = flag.Int("lin-seeds", 2, "runs of TestLinearizability (R1; the soak tier runs 20)")
	linDuration = flag.Duration("lin-duration", 5*time.Second, "length of each TestLinearizability run (the soak tier runs 15s)")
	linMinRate  = flag.Float64("lin-min-rate", 200, "operations per second TestLinearizability must reach before its first fault, or the run is invalid")
)

const (
	linClients    = 8
	linActiveKeys = 3 // clients work on the keys created last
	linCallLimit  = 5 * time.Second
)

// TestLinearizability (R1): 8 clients, each bound to a member (another one
// after an error), create, disable, enable, rotate, schedule and cancel the
// deletion of, describe and encrypt under a few keys at a time, while a
// nemesis kills and restarts the leader or cuts links between members
// (isolating the leader or another member, or one way only) every 1–3 s.
// Every call's interval and outcome go into a history that porcupine must
// find linearizable against a sequential model of key state (linmodel_test.go).
// A run is valid only if the cluster served at least -lin-min-rate
// operations per second before the first fault: the nemesis holds the
// first fault back until the last second reached that rate (a burst of
// load from elsewhere on a shared machine must not fail the test), and the
// run fails if that never happens.
func TestLinearizability(t *testing.T) {
	seeds, duration, minRate := *linSeeds, *linDuration, *linMinRate
	if testing.Short() {
		// The race tier: one short run; its rate says nothing.
		seeds, duration, minRate = 1, 3*time.Second, 0
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			linRun(t, uint64(seed), duration, minRate)
		})
	}
}

func linRun(t *testing.T, seed uint64, duration time.Duration, minRate float64) {
	c := newLinCluster(t, 3)
	first := leaderOf(t, c.ms)
	h := &linHistory{start: time.Now()}
	pool := &linKeys{}
	for range linActiveKeys {
		h.do(context.Background(), first.kms, linInput{kind: linCreate}, 0, pool)
	}
	if len(pool.ids) == 0 {
		t.Fatal("no key could be created")
	}
	h.clients = time.Since(h.start)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for id := range linClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			linClient(c, h, pool, id, rand.New(rand.NewPCG(seed, uint64(id))), stop)
		}()
	}
	faults := linNemesis(t, c, h, rand.New(rand.NewPCG(seed, math.MaxUint64)), int(2*seed), minRate, h.start.Add(h.clients+duration))
	close(stop)
	wg.Wait()

	ops, rate, before := h.summary()
	t.Logf("%d operations checked (%d of unknown outcome), %d faults (%s), %d keys; before the first fault: %.0f ops/s in the last second, %.0f ops/s over %v",
		len(ops), h.unknown, faults.total(), faults, len(pool.ids), faults.rate, rate, before.Round(time.Millisecond))
	if faults.total() == 0 {
		t.Fatalf("invalid run: the cluster never served %.0f ops/s over a second (-lin-min-rate; best %.0f), so no fault was injected", minRate, faults.rate)
	}
	for c, n := range h.causes {
		t.Logf("%d unknown outcomes: %s", n, c)
	}
	start := time.Now()
	res, info := porcupine.CheckOperationsVerbose(linModel, ops, time.Minute)
	t.Logf("porcupine: %s in %v", res, time.Since(start).Round(time.Millisecond))
	if res == porcupine.Ok {
		return
	}
	f, err := os.CreateTemp("", "kmsd-linearizability-*.html")
	if err == nil {
		err = porcupine.Visualize(linModel, info, f)
		f.Close()
	}
	if err != nil {
		t.Errorf("writing the visualization: %v", err)
	} else {
		t.Logf("visualization: %s", f.Name())
	}
	if res == porcupine.Unknown {
		t.Fatal("porcupine could not decide within a minute whether the history is linearizable")
	}
	t.Fatalf("the history is not linearizable; the first key that is not:\n%s", linExplain(ops))
}

// linKeys holds the ids of the keys created so far.
type linKeys struct {
	mu  sync.Mutex
	ids []string
}

func (p *linKeys) add(id string) {
	p.mu.Lock()
	p.ids = append(p.ids, id)
	p.mu.Unlock()
}

// pick returns one of the keys created last.
func (p *linKeys) pick(rng *rand.Rand) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := min(len(p.ids), linActiveKeys)
	return p.ids[len(p.ids)-n+rng.IntN(n)]
}

// linHistory records operations as porcupine wants them: times in
// nanoseconds since start.
type linHistory struct {
	start time.Time
	// clients is when the clients started (after the first keys).
	clients time.Duration

	mu         sync.Mutex
	ops        []porcupine.Operation
	unknown    int
	causes     map[string]int // of unknown outcomes
	firstFault time.Duration  // 0: none yet
}

func (h *linHistory) since() int64 { return int64(time.Since(h.start)) }

func (h *linHistory) fault() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.firstFault == 0 {
		h.firstFault = time.Since(h.start)
	}
}

func (h *linHistory) cause(c string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.causes == nil {
		h.causes = map[string]int{}
	}
	h.causes[c]++
}

// rate returns the operations per second completed in the last d.
func (h *linHistory) rate(d time.Duration) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.since()
	n := 0
	// Operations are appended as they return, so the ones that returned
	// in the last d are at the end (with the open ones, which do not count).
	for i := len(h.ops) - 1; i >= 0; i-- {
		op := h.ops[i]
		if op.Return < now-int64(d) {
			break
		}
		if op.Call >= now-int64(d) && op.Return <= now {
			n++
		}
	}
	return float64(n) / d.Seconds()
}

// summary returns the history, and the rate of operations completed from
// the clients' start to the first fault, and that time.
func (h *linHistory) summary() ([]porcupine.Operation, float64, time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := h.firstFault
	if end == 0 {
		end = time.Since(h.start)
	}
	n := 0
	for _, op := range h.ops {
		if op.Call >= int64(h.clients) && op.Return <= int64(end) {
			n++
		}
	}
	before := end - h.clients
	return h.ops, float64(n) / before.Seconds(), before
}

// linResult is what a client learns from a call.
type linResult int

const (
	linAnswered linResult = iota // success or a definite refusal, recorded
	linNoAnswer                  // a read or CreateKey failed: not recorded
	linUnknown                   // a change may or may not have been made: recorded as open
)

// do runs one operation through client and records it, unless it was a
// read that failed without a definite answer (it tells nothing).
func (h *linHistory) do(ctx context.Context, client kmsv1.KeyManagementServiceClient, in linInput, proc int, pool *linKeys) linResult {
	ctx, cancel := context.WithTimeout(ctx, linCallLimit)
	defer cancel()
	call := h.since()
	out, err := linCall(ctx, client, &in)
	ret := h.since()
	res := linAnswered
	if err != nil {
		out.exc = ExceptionName(err)
		switch out.exc {
		case excNotFound, excDisabled, excInvalidState, excLimitExceeded, excConflict:
		default:
			if in.kind == linDescribe || in.kind == linEncrypt || in.kind == linCreate || linNothingDone(err) {
				// A failed read or a refused call changed nothing and
				// tells nothing; a failed CreateKey may have made a key
				// no one will ever name.
				return linNoAnswer
			}
			out, ret, res = linOutput{unknown: true}, math.MaxInt64, linUnknown
		}
	}
	if res == linUnknown {
		st := status.Convert(err)
		h.cause(st.Code().String() + " " + st.Message())
	}
	if in.kind == linCreate {
		pool.add(in.key)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if out.unknown {
		h.unknown++
	}
	h.ops = append(h.ops, porcupine.Operation{ClientId: proc, Input: in, Call: call, Output: out, Return: ret})
	return res
}

// linNothingDone reports whether err says that nothing was proposed: the
// member could not make sure it held the latest state (its read barrier
// failed), knew of no leader, or was not reached at all. If it was
// proposed all the same, the history shows a change no call explains.
func linNothingDone(err error) bool {
	st := status.Convert(err)
	if ExceptionName(err) == excDependency {
		for _, refusal := range []error{readBarrierError(cluster.ErrTimeout), cluster.ErrNotLeader} {
			if _, _, msg := classify(refusal); msg == st.Message() {
				return true
			}
		}
		return false
	}
	return st.Code() == codes.Unavailable && strings.Contains(st.Message(), "Error while dialing")
}

// linCall makes the call in describes, setting in.key for CreateKey.
func linCall(ctx context.Context, c kmsv1.KeyManagementServiceClient, in *linInput) (linOutput, error) {
	var err error
	switch in.kind {
	case linCreate:
		var r *kmsv1.CreateKeyResponse
		if r, err = c.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err == nil {
			in.key = r.GetKeyMetadata().GetKeyId()
			return linOutput{material: r.GetKeyMetadata().GetCurrentKeyMaterialId()}, nil
		}
	case linDescribe:
		var r *kmsv1.DescribeKeyResponse
		if r, err = c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: in.key}); err == nil {
			md := r.GetKeyMetadata()
			return linOutput{state: md.GetKeyState(), material: md.GetCurrentKeyMaterialId()}, nil
		}
	case linEncrypt:
		var r *kmsv1.EncryptResponse
		if r, err = c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: in.key, Plaintext: []byte("linearizable")}); err == nil {
			hdr, err := envelope.ParseHeader(r.GetCiphertextBlob())
			if err != nil {
				return linOutput{material: "unparsable ciphertext"}, nil
			}
			return linOutput{material: hdr.MaterialID.String()}, nil
		}
	case linEnable:
		_, err = c.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: in.key})
	case linDisable:
		_, err = c.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: in.key})
	case linRotate:
		_, err = c.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: in.key})
	case linSchedule:
		_, err = c.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: in.key, PendingWindowInDays: 7})
	case linCancel:
		_, err = c.CancelKeyDeletion(ctx, &kmsv1.CancelKeyDeletionRequest{KeyId: in.key})
	}
	return linOutput{}, err
}

// linMix weighs the operations: a key stays among the active ones for
// about 1/(2 % of the calls) / 3 calls, so keys see many conflicting calls
// and rotations both succeed and reach the on-demand limit.
var linMix = []struct {
	kind   linKind
	weight int
}{
	{linCreate, 2}, {linDescribe, 22}, {linEncrypt, 22}, {linEnable, 14}, {linDisable, 12},
	{linRotate, 10}, {linSchedule, 8}, {linCancel, 10},
}

func linPick(rng *rand.Rand) linKind {
	n := rng.IntN(100)
	for _, m := range linMix {
		if n < m.weight {
			return m.kind
		}
		n -= m.weight
	}
	return linDescribe
}

// linClient calls members until stop is closed. After a call without a
// definite answer it moves to another member, and after an unknown
// outcome it continues as a new process, as Jepsen's clients do, so that
// the history has at most one open call per process.
func linClient(c *linCluster, h *linHistory, pool *linKeys, id int, rng *rand.Rand, stop <-chan struct{}) {
	proc, m := id, rng.IntN(len(c.ms))
	for {
		select {
		case <-stop:
			return
		default:
		}
		in := linInput{kind: linPick(rng)}
		if in.kind != linCreate {
			in.key = pool.pick(rng)
		}
		switch h.do(context.Background(), c.ms[m].kms, in, proc, pool) {
		case linAnswered:
			continue
		case linUnknown:
			proc += linClients
		}
		m = (m + 1 + rng.IntN(len(c.ms)-1)) % len(c.ms)
		time.Sleep(20 * time.Millisecond)
	}
}
