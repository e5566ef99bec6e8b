package cluster

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kmsd/kmsd/keystore"
)

var hungCycles = flag.Int("hung-cycles", 4, "cycles of TestHungFuturesLeakNothing (the soak tier runs 100)")

// trio is a three-node cluster over TCP on 127.0.0.1, each node with its
// own store.
type trio struct {
	t      *testing.T
	nodes  []*Node
	stores []*keystore.Store
}

func newTrio(t *testing.T) *trio {
	t.Helper()
	var peers []Peer
	for i := range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, Peer{ID: fmt.Sprintf("n%d", i), Addr: l.Addr().String()})
		l.Close()
	}
	tr := &trio{t: t}
	t.Cleanup(tr.stop)
	for _, p := range peers {
		dir := t.TempDir()
		store, err := keystore.Open(filepath.Join(dir, "keystore"), keystore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		tr.stores = append(tr.stores, store)
		n, err := New(Config{NodeID: p.ID, BindAddr: p.Addr, Dir: filepath.Join(dir, "raft"), Bootstrap: true, Peers: peers,
			HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
			LeaderLeaseTimeout: 50 * time.Millisecond, ApplyTimeout: 2 * time.Second}, store)
		if err != nil {
			t.Fatal(err)
		}
		tr.nodes = append(tr.nodes, n)
	}
	return tr
}

func (tr *trio) leader() (*Node, []*Node) {
	tr.t.Helper()
	var leader *Node
	waitFor(tr.t, "a leader", func() bool {
		for _, n := range tr.nodes {
			if n.IsLeader() {
				leader = n
				return true
			}
		}
		return false
	})
	var rest []*Node
	for _, n := range tr.nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	return leader, rest
}

// stop shuts every node down and closes the stores.
func (tr *trio) stop() {
	for _, n := range tr.nodes {
		if err := n.Shutdown(); err != nil {
			tr.t.Errorf("Shutdown: %v", err)
		}
	}
	for _, s := range tr.stores {
		if err := s.Close(); err != nil {
			tr.t.Errorf("store Close: %v", err)
		}
	}
	tr.nodes, tr.stores = nil, nil
}

// TestHungFuturesLeakNothing (TESTPLAN R12, the node level): eight
// callers apply mutations on the leader of a three-node cluster when it
// shuts down (even cycles) or loses its quorum and with it leadership (odd
// cycles: both followers shut down, then the leader). Every apply returns
// within ApplyTimeout of the fault, as a success that the leader's store
// holds or with ErrShutdown, ErrNotLeader or ErrTimeout; no goroutine waits
// on a raft future once the nodes are shut down, and no goroutine at all
// outlives the cluster.
func TestHungFuturesLeakNothing(t *testing.T) {
	const workers = 8
	ignore := goleak.IgnoreCurrent()
	outcomes := map[string]int{}
	for cycle := range *hungCycles {
		tr := newTrio(t)
		leader, followers := tr.leader()
		store := tr.stores[indexOf(tr.nodes, leader)]
		type result struct {
			acked []string
			err   error
			late  time.Duration
		}
		var fault time.Time
		var faultMu sync.Mutex
		results := make(chan result, workers)
		for w := range workers {
			go func() {
				var r result
				for i := 0; ; i++ {
					id := fmt.Sprintf("c%d-w%d-%d", cycle, w, i)
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					err := leader.ApplyMutation(ctx, &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0,
						Key: &keystore.Key{ID: id, State: keystore.Enabled}})
					cancel()
					if err != nil {
						faultMu.Lock()
						if !fault.IsZero() {
							r.late = time.Since(fault)
						}
						faultMu.Unlock()
						r.err = err
						results <- r
						return
					}
					r.acked = append(r.acked, id)
				}
			}()
		}
		waitFor(t, "some applies", func() bool { return store.KeyCount() >= 20 })
		faultMu.Lock()
		fault = time.Now()
		faultMu.Unlock()
		if cycle%2 == 1 {
			for _, f := range followers {
				if err := f.Shutdown(); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "the leader to step down", func() bool { return !leader.IsLeader() })
		}
		if err := leader.Shutdown(); err != nil {
			t.Fatal(err)
		}
		for range workers {
			var r result
			select {
			case r = <-results:
			case <-time.After(3 * time.Second):
				t.Fatalf("cycle %d: an apply did not return within 3 s of the fault", cycle)
			}
			switch {
			case errors.Is(r.err, ErrShutdown):
				outcomes["shutdown"]++
			case errors.Is(r.err, ErrNotLeader):
				outcomes["not leader"]++
			case errors.Is(r.err, ErrTimeout):
				outcomes["timeout (outcome unknown)"]++
			default:
				t.Errorf("cycle %d: apply = %v", cycle, r.err)
			}
			if r.late > 2*time.Second+500*time.Millisecond {
				t.Errorf("cycle %d: an apply returned %v after the fault", cycle, r.late)
			}
			for _, id := range r.acked {
				if _, err := store.Key(id); err != nil {
					t.Errorf("cycle %d: acknowledged key %s not in the leader's store: %v", cycle, id, err)
				}
			}
		}
		for _, n := range tr.nodes {
			n.Shutdown()
			// Raft never answers the futures of entries it was applying
			// when it shut down (see TestMain), so a few waiters may stay,
			// at most one per caller (as TestShutdownDuringApply bounds).
			waitFor(t, "goroutines waiting on raft futures to end", func() bool { return statUint(t, n, "future_waiters") <= workers })
		}
		tr.stop()
		// The waiters counted above (at most one per caller) are the only
		// goroutines allowed to outlive the nodes.
		if err := goleak.Find(ignore, goleak.IgnoreAnyFunction("github.com/kmsd/kmsd/cluster.(*Node).waitOr.func1")); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
	}
	t.Logf("%d cycles, applies ended by the fault: %v", *hungCycles, outcomes)
}

func indexOf(nodes []*Node, n *Node) int {
	for i, m := range nodes {
		if m == n {
			return i
		}
	}
	return -1
}
