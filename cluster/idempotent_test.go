package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/keystore"
)

var applyCrashes = flag.Int("apply-crashes", 6, "crashes in TestIdempotentApplyAcrossCrashes (the soak tier runs 200)")

// crashNode is a node whose store tells the test each time it has
// committed an audit batch, so that the test can crash the node right
// after a commit that raft has not acknowledged yet.
type crashNode struct {
	t        *testing.T
	cfg      Config
	storeDir string
	store    *keystore.Store
	node     *Node
	// crashAt is the audit batch after whose commit crash is signalled;
	// 0: never.
	crashAt  atomic.Int64
	appended atomic.Int64
	crash    chan struct{}
	// replayed counts the entries raft replayed that the store had
	// applied before it crashed.
	replayed uint64
}

func (c *crashNode) start() {
	t := c.t
	t.Helper()
	store, err := keystore.Open(c.storeDir, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.appended.Store(0)
	store.SetLogObserver(keystore.LogObserver{Appended: func(uint64, [][]byte) {
		if c.appended.Add(1) == c.crashAt.Load() {
			select {
			case c.crash <- struct{}{}:
			default:
			}
		}
	}})
	applied := store.AppliedIndex()
	n, err := New(c.cfg, store)
	if err != nil {
		store.Close()
		t.Fatal(err)
	}
	c.store, c.node = store, n
	c.replayed += applied - min(applied, statUint(t, n, "last_snapshot_index"))
	c.cfg.BindAddr = n.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leadership and the replay of the log", func() bool {
		s := n.Stats()
		return n.IsLeader() && s["applied_index"] == s["last_log_index"]
	})
}

func (c *crashNode) stop() {
	if c.node != nil {
		c.node.Shutdown()
		c.node = nil
	}
	if c.store != nil {
		if err := c.store.Close(); err != nil {
			c.t.Errorf("store Close: %v", err)
		}
		c.store = nil
	}
}

// applyModel is what the callers were told: what was acknowledged, and
// what may or may not have been applied.
type applyModel struct {
	mu          sync.Mutex
	events      map[string]bool // audit event id -> acknowledged
	rotations   map[string]map[string]bool
	usageAcked  uint64
	usageMaybe  uint64
	usageSeq    uint64
	unknown     int
	outOfTarget int
}

func (m *applyModel) outcome(err error) (ok bool, maybe bool) {
	switch {
	case err == nil:
		return true, false
	case errors.Is(err, ErrShutdown), errors.Is(err, ErrTimeout), errors.Is(err, ErrNotLeader):
		m.mu.Lock()
		m.unknown++
		m.mu.Unlock()
		return false, true
	}
	return false, false
}

// TestIdempotentApplyAcrossCrashes (TESTPLAN R11): a node applies audit
// batches, on-demand rotations and usage counts from three callers, with
// a snapshot every few dozen entries, and crashes (shuts down with the
// store as it is on disk) again and again: right after its store
// committed an audit batch that raft had not acknowledged, at a random
// applied index, or while a snapshot is being taken. On restart raft
// replays the entries after its latest snapshot; the store has recorded
// its applied index in the same transaction as each change and skips what
// it has applied. After every restart: no audit event id is in the log
// twice and every acknowledged one is there, every rotation is applied
// once (acknowledged ones exactly once, versions = rotations + 1), and the
// usage counter counts every acknowledged batch once.
func TestIdempotentApplyAcrossCrashes(t *testing.T) {
	root := t.TempDir()
	c := &crashNode{t: t, storeDir: filepath.Join(root, "keystore"), crash: make(chan struct{}, 1), cfg: Config{
		NodeID: "node1", BindAddr: "127.0.0.1:0", Dir: filepath.Join(root, "raft"), Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond,
		SnapshotThreshold: 48, SnapshotInterval: 20 * time.Millisecond, TrailingLogs: 16,
	}}
	t.Cleanup(c.stop)
	c.start()
	model := &applyModel{events: map[string]bool{}, rotations: map[string]map[string]bool{}}
	mustApply(t, c.node, &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: &keystore.Key{ID: "counted", State: keystore.Enabled,
		Origin: keystore.OriginAWSKMS, Versions: []keystore.Version{{MaterialID: "m0", Wrapped: []byte("sealed"), CreationDate: t0}}}})
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := map[string]int{}
	for cycle := range *applyCrashes {
		key := fmt.Sprintf("rotated-%d", cycle)
		mustApply(t, c.node, &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: &keystore.Key{ID: key, State: keystore.Enabled,
			Origin: keystore.OriginAWSKMS, Versions: []keystore.Version{{MaterialID: key + "-0", Wrapped: []byte("sealed"), CreationDate: t0}}}})
		model.rotations[key] = map[string]bool{}
		kind := []string{"after an audit commit", "at an applied index", "during a snapshot"}[cycle%3]
		kinds[kind]++
		target := int64(5 + rng.IntN(30))
		if cycle%3 == 0 {
			c.crashAt.Store(target)
		} else {
			c.crashAt.Store(0)
		}
		from := c.store.AppliedIndex()
		var wg sync.WaitGroup
		n := c.node
		wg.Go(func() { auditCaller(n, model, cycle) })
		wg.Go(func() { rotationCaller(n, model, key) })
		wg.Go(func() { usageCaller(n, model) })
		switch cycle % 3 {
		case 0:
			select {
			case <-c.crash:
			case <-time.After(10 * time.Second):
				t.Fatal("no crash point reached")
			}
		case 1:
			waitFor(t, "applies", func() bool { return c.store.AppliedIndex() >= from+uint64(target) })
		case 2:
			waitFor(t, "applies", func() bool { return c.store.AppliedIndex() >= from+uint64(target) })
			go n.Snapshot()
			time.Sleep(time.Duration(rng.IntN(1500)) * time.Microsecond)
		}
		n.Shutdown()
		wg.Wait()
		select {
		case <-c.crash:
		default:
		}
		c.stop()
		c.start()
		model.check(t, c.store, cycle)
	}
	model.mu.Lock()
	defer model.mu.Unlock()
	t.Logf("%d crashes %v: %d audit events, %d usage batches acknowledged, %d calls with an unknown outcome; %d entries the store had applied were replayed, none applied twice",
		*applyCrashes, kinds, len(model.events), model.usageAcked, model.unknown, c.replayed)
}

func mustApply(t *testing.T, n *Node, m *keystore.Mutation) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.ApplyMutation(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// The callers apply until the node stops them.

func auditCaller(n *Node, m *applyModel, cycle int) {
	for i := 0; ; i++ {
		var recs [][]byte
		var ids []string
		for j := range 1 + i%3 {
			id := fmt.Sprintf("ev-%d-%d-%d", cycle, i, j)
			ids, recs = append(ids, id), append(recs, []byte("record "+id))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := n.AppendAudit(ctx, recs, ids, nil)
		cancel()
		ok, maybe := m.outcome(err)
		m.mu.Lock()
		for _, id := range ids {
			if ok || maybe {
				m.events[id] = ok
			}
		}
		m.mu.Unlock()
		if !ok {
			return
		}
	}
}

func rotationCaller(n *Node, m *applyModel, key string) {
	from := key + "-0"
	for i := 1; i < keystore.MaxOnDemandRotations; i++ {
		mat := fmt.Sprintf("%s-%d", key, i)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.ApplyMutation(ctx, &keystore.Mutation{Op: keystore.OpRotateKey, KeyID: key, Time: t0,
			RotationType: keystore.RotationOnDemand, FromMaterialID: from,
			Version: &keystore.Version{MaterialID: mat, Wrapped: []byte("sealed"), CreationDate: t0}})
		cancel()
		ok, maybe := m.outcome(err)
		m.mu.Lock()
		if ok || maybe {
			m.rotations[key][mat] = ok
		}
		m.mu.Unlock()
		if !ok {
			return
		}
		from = mat
	}
}

func usageCaller(n *Node, m *applyModel) {
	for {
		m.mu.Lock()
		m.usageSeq++
		seq := m.usageSeq
		m.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.ApplyMutation(ctx, &keystore.Mutation{Op: keystore.OpAddUsage, Time: t0, Usage: &keystore.UsageBatch{Node: "n1", Seq: seq,
			Counts: []keystore.UsageCount{{KeyID: "counted", MaterialID: "m0", N: 1}}}})
		cancel()
		ok, maybe := m.outcome(err)
		m.mu.Lock()
		if ok {
			m.usageAcked++
		} else if maybe {
			m.usageMaybe++
		}
		m.mu.Unlock()
		if !ok {
			return
		}
	}
}

// check compares the restarted store with what the callers were told.
func (m *applyModel) check(t *testing.T, s *keystore.Store, cycle int) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	recs, err := s.LogRecords(0, s.LogSize())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range recs {
		id := strings.TrimPrefix(string(r), "record ")
		if seen[id]++; seen[id] == 2 {
			t.Errorf("cycle %d: audit event %s is in the log twice", cycle, id)
		}
		if _, ok := m.events[id]; !ok {
			t.Errorf("cycle %d: audit event %s was never proposed", cycle, id)
		}
	}
	for id, acked := range m.events {
		if acked && seen[id] == 0 {
			t.Errorf("cycle %d: acknowledged audit event %s is missing", cycle, id)
		}
	}
	for key, mats := range m.rotations {
		k, err := s.Key(key)
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		held := map[string]int{}
		for _, v := range k.Versions[1:] {
			held[v.MaterialID]++
			if _, ok := mats[v.MaterialID]; !ok || held[v.MaterialID] > 1 {
				t.Errorf("cycle %d: key %s: rotation to %s applied %d times (proposed: %v)", cycle, key, v.MaterialID, held[v.MaterialID], ok)
			}
		}
		for mat, acked := range mats {
			if acked && held[mat] != 1 {
				t.Errorf("cycle %d: key %s: acknowledged rotation to %s applied %d times", cycle, key, mat, held[mat])
			}
		}
		if int(k.OnDemandRotations) != len(k.Versions)-1 {
			t.Errorf("cycle %d: key %s: %d versions, %d on-demand rotations counted", cycle, key, len(k.Versions), k.OnDemandRotations)
		}
	}
	k, err := s.Key("counted")
	if err != nil {
		t.Fatal(err)
	}
	if n := k.Versions[0].EncryptionCount; n < m.usageAcked || n > m.usageAcked+m.usageMaybe {
		t.Errorf("cycle %d: usage counter %d; %d batches of one acknowledged, %d with an unknown outcome", cycle, n, m.usageAcked, m.usageMaybe)
	}
}
