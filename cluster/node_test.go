package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// testNode is a node and its store with their directories, so a test can
// restart them.
type testNode struct {
	t        *testing.T
	cfg      Config
	storeDir string
	store    *keystore.Store
	node     *Node
}

func newTestNode(t *testing.T) *testNode {
	root := t.TempDir()
	tn := &testNode{t: t, storeDir: filepath.Join(root, "keystore"), cfg: Config{
		NodeID:             "node1",
		BindAddr:           "127.0.0.1:0",
		Dir:                filepath.Join(root, "raft"),
		Bootstrap:          true,
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond,
		ApplyTimeout:       5 * time.Second,
		Logger:             testLogger(t),
	}}
	t.Cleanup(tn.stop)
	return tn
}

// start opens the store and starts the node, and waits until it leads.
func (tn *testNode) start() {
	t := tn.t
	t.Helper()
	store, err := keystore.Open(tn.storeDir, keystore.Options{Logger: tn.cfg.Logger})
	if err != nil {
		t.Fatal(err)
	}
	tn.store = store
	n, err := New(tn.cfg, store)
	if err != nil {
		store.Close()
		tn.store = nil
		t.Fatal(err)
	}
	tn.node = n
	tn.cfg.BindAddr = n.Addr() // a restart keeps the address
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for isLeader := range n.LeaderCh() {
		if isLeader {
			break
		}
	}
}

func (tn *testNode) stop() {
	if tn.node != nil {
		if err := tn.node.Shutdown(); err != nil {
			tn.t.Errorf("Shutdown: %v", err)
		}
		tn.node = nil
	}
	if tn.store != nil {
		if err := tn.store.Close(); err != nil {
			tn.t.Errorf("store Close: %v", err)
		}
		tn.store = nil
	}
}

func (tn *testNode) restart() {
	tn.t.Helper()
	tn.stop()
	tn.start()
}

func (tn *testNode) apply(m *keystore.Mutation) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return tn.node.ApplyMutation(ctx, m)
}

// createKeys applies n CreateKey mutations, key ids from "key-<from>".
func (tn *testNode) createKeys(from, n int) {
	tn.t.Helper()
	for i := from; i < from+n; i++ {
		k := &keystore.Key{
			ID: fmt.Sprintf("key-%04d", i), State: keystore.Enabled, Origin: keystore.OriginAWSKMS,
			CreationDate: t0,
			Versions:     []keystore.Version{{MaterialID: "m", Wrapped: []byte("sealed"), CreationDate: t0}},
		}
		if err := tn.apply(&keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: k}); err != nil {
			tn.t.Fatalf("create %s: %v", k.ID, err)
		}
	}
}

// waitFor polls cond until it holds or the test times out after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func statUint(t *testing.T, n *Node, name string) uint64 {
	v, err := strconv.ParseUint(n.Stats()[name], 10, 64)
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	return v
}

func TestNodeApplyAndRestart(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	tn.createKeys(0, 30)
	err := tn.apply(&keystore.Mutation{Op: keystore.OpEnableKey, Time: t0, KeyID: "missing"})
	if !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("enable missing key = %v, want keystore.ErrNotFound", err)
	}
	err = tn.apply(&keystore.Mutation{Op: keystore.OpCreateAlias, Time: t0, AliasName: "alias/a", KeyID: "key-0001"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.apply(&keystore.Mutation{Op: keystore.OpDisableKey, Time: t0, KeyID: "key-0002"}); err != nil {
		t.Fatal(err)
	}
	want := tn.store.Digest()

	tn.restart()
	if tn.store.Digest() != want || tn.store.KeyCount() != 30 {
		t.Fatalf("after restart: %d keys, digest equal: %v", tn.store.KeyCount(), tn.store.Digest() == want)
	}
	if k, err := tn.store.Key("key-0002"); err != nil || k.State != keystore.Disabled {
		t.Errorf("key-0002 = %+v, %v", k, err)
	}
	tn.createKeys(30, 1)
	if tn.store.KeyCount() != 31 {
		t.Errorf("KeyCount = %d after a create on the restarted node", tn.store.KeyCount())
	}
}

func TestNodeSnapshotCompactionAndRecovery(t *testing.T) {
	tn := newTestNode(t)
	tn.cfg.SnapshotThreshold = 10
	tn.cfg.SnapshotInterval = 20 * time.Millisecond
	tn.cfg.TrailingLogs = 5
	tn.start()
	tn.createKeys(0, 60)
	waitFor(t, "an automatic snapshot", func() bool { return statUint(t, tn.node, "last_snapshot_index") >= 10 })
	tn.createKeys(60, 5)
	if err := tn.node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	tn.createKeys(65, 3) // entries after the last snapshot, in the log only
	if first, _ := tn.node.logs.FirstIndex(); first <= 1 {
		t.Fatalf("log not compacted: first index %d", first)
	}
	want := tn.store.Digest()

	// The store has everything: raft must not restore the snapshot.
	tn.restart()
	if tn.store.Digest() != want {
		t.Fatal("digest differs after restart")
	}

	// Without the store, state comes back from the snapshot and the log.
	tn.stop()
	if err := os.RemoveAll(tn.storeDir); err != nil {
		t.Fatal(err)
	}
	tn.start()
	waitFor(t, "the log to be replayed", func() bool { return tn.store.Digest() == want })
	if tn.store.KeyCount() != 68 {
		t.Errorf("KeyCount = %d, want 68", tn.store.KeyCount())
	}
}

func TestNodeRefusesStoreAheadOfLog(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	tn.createKeys(0, 3)
	tn.stop()
	if err := os.RemoveAll(tn.cfg.Dir); err != nil {
		t.Fatal(err)
	}
	store, err := keystore.Open(tn.storeDir, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if n, err := New(tn.cfg, store); !errors.Is(err, ErrStoreAhead) {
		if n != nil {
			n.Shutdown()
		}
		t.Fatalf("New with a lost raft dir = %v, want ErrStoreAhead", err)
	}
}

func TestApplyAfterShutdown(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	n := tn.node
	leaderCh := n.LeaderCh()
	if err := n.Shutdown(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := tn.apply(&keystore.Mutation{Op: keystore.OpEnableKey, Time: t0, KeyID: "k"})
	if !errors.Is(err, ErrShutdown) || time.Since(start) > time.Second {
		t.Errorf("ApplyMutation after Shutdown = %v after %v", err, time.Since(start))
	}
	if err := n.Snapshot(); !errors.Is(err, ErrShutdown) {
		t.Errorf("Snapshot after Shutdown = %v", err)
	}
	if err := n.WaitForLeader(context.Background()); !errors.Is(err, ErrShutdown) {
		t.Errorf("WaitForLeader after Shutdown = %v", err)
	}
	for range leaderCh { // closed at Shutdown
	}
	if err := n.Shutdown(); err != nil {
		t.Errorf("second Shutdown = %v", err)
	}
}

// TestApplyRefusesInvalidCommands: what would make every node's state
// machine panic is never proposed.
func TestApplyRefusesInvalidCommands(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	ctx := context.Background()
	for i, cmd := range []*clusterv1.Command{nil, {}, {Type: 99}} {
		if _, err := tn.node.Apply(ctx, cmd); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Test %d: Apply(%v) = %v", i, cmd, err)
		}
	}
	for i, m := range []*keystore.Mutation{nil, {}} {
		if err := tn.node.ApplyMutation(ctx, m); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Test %d: ApplyMutation(%v) = %v", i, m, err)
		}
	}
	// An ignorable command of an unknown type is proposed and skipped.
	if resp, err := tn.node.Apply(ctx, &clusterv1.Command{Type: 99, Ignorable: true}); resp != nil || err != nil {
		t.Errorf("ignorable command = %v, %v", resp, err)
	}
}

func TestApplyContextDone(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	m := &keystore.Mutation{Op: keystore.OpEnableKey, Time: t0, KeyID: "k"}

	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	start := time.Now()
	err := tn.node.ApplyMutation(expired, m)
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("expired context: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("expired context: returned after %v", d)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tn.node.ApplyMutation(cancelled, m); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestApplyNotLeader(t *testing.T) {
	tn := newTestNode(t)
	tn.cfg.Bootstrap = false
	store, err := keystore.Open(tn.storeDir, keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tn.store = store
	if tn.node, err = New(tn.cfg, store); err != nil {
		t.Fatal(err)
	}
	if tn.node.IsLeader() {
		t.Fatal("a node without a cluster is leader")
	}
	err = tn.apply(&keystore.Mutation{Op: keystore.OpEnableKey, Time: t0, KeyID: "k"})
	if !errors.Is(err, ErrNotLeader) {
		t.Errorf("Apply on a follower = %v, want ErrNotLeader", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := tn.node.WaitForLeader(ctx); !errors.Is(err, ErrTimeout) {
		t.Errorf("WaitForLeader without a cluster = %v", err)
	}
}

// TestShutdownDuringApply is R12 in small: applies in flight when the node
// shuts down all return within their deadline, every success is in the
// store (no false OK), and goroutines left waiting on raft futures are
// bounded by the applies in flight.
func TestShutdownDuringApply(t *testing.T) {
	const workers = 8
	type result struct {
		worker, ok int
		err        error
	}
	for cycle := range 3 {
		tn := newTestNode(t)
		tn.start()
		results := make(chan result, workers)
		id := func(w, i int) string { return fmt.Sprintf("c%d-w%d-%d", cycle, w, i) }
		for w := range workers {
			go func() {
				for i := 0; ; i++ {
					k := &keystore.Key{ID: id(w, i), State: keystore.Enabled}
					err := tn.node.ApplyMutation(context.Background(), &keystore.Mutation{Op: keystore.OpCreateKey, Key: k})
					if err != nil {
						results <- result{w, i, err}
						return
					}
				}
			}()
		}
		waitFor(t, "some applies", func() bool { return tn.store.KeyCount() >= 20 })
		start := time.Now()
		if err := tn.node.Shutdown(); err != nil {
			t.Fatal(err)
		}
		for range workers {
			var r result
			select {
			case r = <-results:
			case <-time.After(tn.cfg.ApplyTimeout + time.Second):
				t.Fatalf("cycle %d: an apply did not return", cycle)
			}
			if !errors.Is(r.err, ErrShutdown) && !errors.Is(r.err, ErrNotLeader) && !errors.Is(r.err, ErrTimeout) {
				t.Errorf("cycle %d: apply during shutdown = %v", cycle, r.err)
			}
			for i := range r.ok {
				if _, err := tn.store.Key(id(r.worker, i)); err != nil {
					t.Errorf("cycle %d: acknowledged key %s missing: %v", cycle, id(r.worker, i), err)
				}
			}
		}
		waiters := statUint(t, tn.node, "future_waiters")
		t.Logf("cycle %d: all applies returned %v after Shutdown started; %d future waiters left",
			cycle, time.Since(start), waiters)
		if waiters > workers {
			t.Errorf("cycle %d: %d goroutines wait on raft futures, more than the %d applies in flight", cycle, waiters, workers)
		}
		tn.stop()
	}
}
