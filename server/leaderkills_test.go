package server

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

const defaultLeaderKills = 6

var leaderKills = flag.Int("leader-kills", defaultLeaderKills, "leader kills in TestLeaderKills (R2: the soak tier runs 300)")

// Deadlines of the cluster tests' API calls. A member gives up a wait on
// the Raft log after killMutationTimeout (twice per call at most: the
// mutation and its audit record), so it always answers before the
// caller's deadline; a call that reaches its own deadline found a handler
// that hung.
const (
	killMutationTimeout = time.Second
	killCallTimeout     = 4 * time.Second
	killCallSlack       = 500 * time.Millisecond
)

// outcome is what a caller can conclude from a call's result.
type outcome int

const (
	acked   outcome = iota // OK: the change is made and must survive
	refused                // a definite error: nothing changed
	unknown                // the change may or may not have been made
	hung                   // the caller's own deadline passed: the member never answered
)

// callLog checks that every call returns, within its deadline, with an
// outcome the caller can act on.
type callLog struct {
	mu       sync.Mutex
	counts   [4]int
	slowest  time.Duration
	overdue  int
	internal []string // first few unexpected errors
	// acks holds when each acknowledged call was made and answered.
	acks [][2]time.Time
}

// call runs f with the callers' deadline and classifies its result.
func (l *callLog) call(f func(ctx context.Context) error) (outcome, error) {
	ctx, cancel := context.WithTimeout(context.Background(), killCallTimeout)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	d := time.Since(start)
	o := classifyCall(err)
	if o != acked && o != refused {
		// A member down or electing: do not spin on it.
		defer time.Sleep(5 * time.Millisecond)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[o]++
	if o == acked {
		l.acks = append(l.acks, [2]time.Time{start, start.Add(d)})
	}
	l.slowest = max(l.slowest, d)
	if d > killCallTimeout+killCallSlack {
		l.overdue++
	}
	if c := status.Code(err); (c == codes.Internal || c == codes.Unknown) && len(l.internal) < 5 {
		l.internal = append(l.internal, err.Error())
	}
	return o, err
}

func classifyCall(err error) outcome {
	switch status.Code(err) {
	case codes.OK:
		return acked
	case codes.DeadlineExceeded:
		return hung
	case codes.Unavailable, codes.Canceled, codes.Unknown, codes.Internal, codes.Aborted:
		return unknown
	}
	return refused
}

// check fails t if a call hung, came back late or failed unexpectedly.
func (l *callLog) check(t *testing.T) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts[hung] != 0 || l.overdue != 0 {
		t.Errorf("%d calls reached their own deadline (hung handlers), %d returned later than %v + %v",
			l.counts[hung], l.overdue, killCallTimeout, killCallSlack)
	}
	if len(l.internal) > 0 {
		t.Errorf("unexpected errors: %q", l.internal)
	}
}

func (l *callLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return fmt.Sprintf("%d acknowledged, %d refused, %d outcome unknown, %d hung; slowest %v",
		l.counts[acked], l.counts[refused], l.counts[unknown], l.counts[hung], l.slowest.Round(time.Millisecond))
}

// keyModel is what a writer knows of a key it created: its state and
// number of versions after the acknowledged calls, and the one call with
// an unknown outcome made on it, after which the writer leaves it alone
// (that call may take effect at any later time).
type keyModel struct {
	id        string
	state     keystore.State
	versions  int
	rotations int // on-demand rotations tried (AWS allows 10)
	pending   string
	retired   bool
}

// apply returns the state and version count after op.
func (k *keyModel) after(op string) (keystore.State, int) {
	switch op {
	case "enable":
		if k.state == keystore.Disabled {
			return keystore.Enabled, k.versions
		}
	case "disable":
		if k.state == keystore.Enabled {
			return keystore.Disabled, k.versions
		}
	case "schedule":
		if k.state == keystore.Enabled || k.state == keystore.Disabled {
			return keystore.PendingDeletion, k.versions
		}
	case "rotate":
		if k.state == keystore.Enabled {
			return k.state, k.versions + 1
		}
	}
	return k.state, k.versions
}

// killWriter makes mutations through random members and records what was
// acknowledged.
type killWriter struct {
	id    int
	ms    []*member
	calls *callLog
	rng   *rand.Rand

	keys    []*keyModel
	created map[string]bool   // CreateKey descriptions: true when acknowledged
	aliases map[string]string // alias name -> target, acknowledged
	maybe   map[string]string // alias name -> target, outcome unknown
	n       int
}

func newKillWriter(id int, ms []*member, calls *callLog) *killWriter {
	return &killWriter{id: id, ms: ms, calls: calls, rng: rand.New(rand.NewPCG(uint64(id), 42)),
		created: map[string]bool{}, aliases: map[string]string{}, maybe: map[string]string{}}
}

func (w *killWriter) client() kmsv1.KeyManagementServiceClient {
	return w.ms[w.rng.IntN(len(w.ms))].kms
}

func (w *killWriter) live() []*keyModel {
	var out []*keyModel
	for _, k := range w.keys {
		if !k.retired {
			out = append(out, k)
		}
	}
	return out
}

// step makes one call.
func (w *killWriter) step() {
	w.n++
	live := w.live()
	if len(live) < 2 || (len(live) < 8 && w.rng.IntN(4) == 0) {
		w.create()
		return
	}
	k := live[w.rng.IntN(len(live))]
	c := w.client()
	var op string
	var f func(ctx context.Context) error
	switch r := w.rng.IntN(20); {
	case r < 5:
		op = "disable"
		f = func(ctx context.Context) error {
			_, err := c.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: k.id})
			return err
		}
	case r < 10:
		op = "enable"
		f = func(ctx context.Context) error {
			_, err := c.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: k.id})
			return err
		}
	case r < 14 && k.rotations < keystore.MaxOnDemandRotations:
		op = "rotate"
		k.rotations++
		f = func(ctx context.Context) error {
			_, err := c.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: k.id})
			return err
		}
	case r < 19:
		name := fmt.Sprintf("alias/lk-w%d-%d", w.id, w.n)
		o, _ := w.calls.call(func(ctx context.Context) error {
			_, err := c.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: name, TargetKeyId: k.id})
			return err
		})
		switch o {
		case acked:
			w.aliases[name] = k.id
		case unknown, hung:
			w.maybe[name] = k.id
		}
		return
	default:
		op = "schedule"
		f = func(ctx context.Context) error {
			_, err := c.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: k.id, PendingWindowInDays: 7})
			return err
		}
	}
	switch o, _ := w.calls.call(f); o {
	case acked:
		k.state, k.versions = k.after(op)
		k.retired = k.state == keystore.PendingDeletion
	case unknown, hung:
		k.pending, k.retired = op, true
	}
}

func (w *killWriter) create() {
	desc := fmt.Sprintf("lk-w%d-%d", w.id, w.n)
	c := w.client()
	var resp *kmsv1.CreateKeyResponse
	o, _ := w.calls.call(func(ctx context.Context) (err error) {
		resp, err = c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: desc})
		return err
	})
	w.created[desc] = o == acked
	if o == acked {
		w.keys = append(w.keys, &keyModel{id: resp.GetKeyMetadata().GetKeyId(), state: keystore.Enabled, versions: 1})
	}
}

// check compares what w was told with m's state and returns the number of
// acknowledged changes it found.
func (w *killWriter) check(t *testing.T, m *member, byDesc map[string][]*keystore.Key) int {
	t.Helper()
	found := 0
	for desc, ok := range w.created {
		n := len(byDesc[desc])
		if n > 1 || (ok && n != 1) {
			t.Errorf("CreateKey %q (acknowledged: %v) made %d keys", desc, ok, n)
		}
	}
	for _, km := range w.keys {
		k, err := m.store.Key(km.id)
		if err != nil {
			t.Errorf("acknowledged key %s: %v", km.id, err)
			continue
		}
		found++
		st, v := km.after(km.pending)
		okState := k.State == km.state || (km.pending != "" && k.State == st)
		okVersions := len(k.Versions) == km.versions || (km.pending != "" && len(k.Versions) == v)
		if !okState || !okVersions {
			t.Errorf("key %s: %s with %d versions; acknowledged %s with %d (then %q, outcome unknown)",
				km.id, k.State, len(k.Versions), km.state, km.versions, km.pending)
		}
	}
	for name, target := range w.aliases {
		a, err := m.store.Alias(name)
		if err != nil || a.TargetKeyID != target {
			t.Errorf("acknowledged alias %s -> %s: %+v, %v", name, target, a, err)
			continue
		}
		found++
	}
	for name, target := range w.maybe {
		if a, err := m.store.Alias(name); err == nil && a.TargetKeyID != target {
			t.Errorf("alias %s -> %s (outcome unknown) points at %s", name, target, a.TargetKeyID)
		}
	}
	return found
}

// digestLog records the state digest members reported at each applied
// index: two members at the same index must report the same digest.
type digestLog struct {
	at       map[uint64][32]byte
	compared int
}

func (d *digestLog) sample(t *testing.T, ms []*member) {
	t.Helper()
	for _, m := range ms {
		i, sum := m.store.DigestAt()
		if prev, ok := d.at[i]; ok {
			d.compared++
			if prev != sum {
				t.Fatalf("two members differ at applied index %d", i)
			}
		}
		d.at[i] = sum
	}
}

// TestLeaderKills (TESTPLAN R2 and R3): four writers make CreateKey,
// DisableKey, EnableKey, CreateAlias, RotateKeyOnDemand and
// ScheduleKeyDeletion calls through random members of a three-node cluster
// while the leader is killed (shut down as a crash would, its in-memory
// state lost) and restarted on its stores, again and again. No
// acknowledged change is lost, no call is applied twice (one
// acknowledged rotation is one version, one CreateKey one key), members
// report equal digests whenever they are at the same applied index, and
// every call returns before its deadline, with an unknown outcome at worst.
// The time from each kill to the first acknowledged CreateKey is the
// failover latency; with more kills than the default, its p99 must be
// under R3's target (failoverTarget).
func TestLeaderKills(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	clocks := []func() time.Time{clock.Now, clock.Now, clock.Now}
	ms := newMembersWithClocks(t, clocks, func(c *Config) { c.MutationTimeout = killMutationTimeout })
	leaderOf(t, ms)
	calls := &callLog{}
	var stop atomic.Bool
	var wg sync.WaitGroup
	writers := make([]*killWriter, 4)
	for i := range writers {
		w := newKillWriter(i, ms, calls)
		writers[i] = w
		wg.Go(func() {
			for !stop.Load() {
				w.step()
			}
		})
	}
	probe := newKillWriter(len(writers), nil, calls)
	digests := &digestLog{at: map[uint64][32]byte{}}
	rng := rand.New(rand.NewPCG(7, 7))
	var failovers []time.Duration
	var stopping, booting time.Duration
	for range *leaderKills {
		time.Sleep(time.Duration(20+rng.IntN(40)) * time.Millisecond)
		victim := leaderOf(t, ms)
		killed := time.Now()
		victim.stop()
		stopping += time.Since(killed)
		probe.ms = alive(ms)
		failovers = append(failovers, probe.firstWrite(t, killed))
		time.Sleep(time.Duration(5+rng.IntN(30)) * time.Millisecond)
		digests.sample(t, alive(ms))
		booted := time.Now()
		victim.boot()
		booting += time.Since(booted)
	}
	time.Sleep(50 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	waitApplied(t, ms)
	digests.sample(t, ms)
	i0, _ := ms[0].store.DigestAt()
	for _, m := range ms {
		if i, _ := m.store.DigestAt(); i != i0 {
			t.Fatalf("members converged at applied indexes %d and %d", i0, i)
		}
		byDesc := keysByDescription(t, m.store)
		found := 0
		for _, w := range append(writers, probe) {
			found += w.check(t, m, byDesc)
		}
		if found < 20 {
			t.Fatalf("only %d acknowledged changes: the test did little", found)
		}
	}
	calls.check(t)
	p50, p99 := percentile(failovers, 50), percentile(failovers, 99)
	t.Logf("%d leader kills; calls: %v; %d digest comparisons at equal indexes", *leaderKills, calls, digests.compared)
	t.Logf("a kill took %v and a restart %v on average", stopping/time.Duration(*leaderKills), booting/time.Duration(*leaderKills))
	t.Logf("failover (kill to the first acknowledged CreateKey): p50 %v, p99 %v, max %v",
		p50.Round(time.Millisecond), p99.Round(time.Millisecond), slices.Max(failovers).Round(time.Millisecond))
	// A latency target is a measured figure, not a timed unit test: only
	// the soak runs, with enough kills to have a p99, judge it.
	if want := failoverTarget(*memberRaftTimeout); *leaderKills > defaultLeaderKills && p99 > want {
		t.Errorf("failover p99 %v with %v raft timeouts, want under %v (TESTPLAN R3)", p99, *memberRaftTimeout, want)
	}
}

// failoverTarget is TESTPLAN R3's bound on the failover p99 of members
// with the given raft heartbeat and election timeouts: 500 ms with 50 ms
// timeouts (or shorter), else the 3 s R3 sets for production timeouts.
func failoverTarget(raftTimeout time.Duration) time.Duration {
	if raftTimeout <= 50*time.Millisecond {
		return 500 * time.Millisecond
	}
	return 3 * time.Second
}

// firstWrite retries CreateKey through the running members until one is
// acknowledged and returns the time since since.
func (w *killWriter) firstWrite(t *testing.T, since time.Time) time.Duration {
	t.Helper()
	for time.Since(since) < 30*time.Second {
		w.n++
		w.create()
		if w.created[fmt.Sprintf("lk-w%d-%d", w.id, w.n)] {
			return time.Since(since)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("no write acknowledged 30 s after the leader was killed")
	return 0
}

func keysByDescription(t *testing.T, s *keystore.Store) map[string][]*keystore.Key {
	t.Helper()
	out := map[string][]*keystore.Key{}
	marker := ""
	for {
		keys, next, err := s.Keys(1000, marker)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if strings.HasPrefix(k.Description, "lk-") {
				out[k.Description] = append(out[k.Description], k)
			}
		}
		if next == "" {
			return out
		}
		marker = next
	}
}

// percentile returns the p-th percentile of ds (nearest rank).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i, 1)-1]
}
