package server

import (
	"flag"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var hungCycles = flag.Int("hung-cycles", 4, "faults in TestHungFuturesAnswerInTime (the soak tier runs 100)")

// TestHungFuturesAnswerInTime (TESTPLAN R12, through the API): four
// writers make mutations through every member of a three-node cluster
// while, in turn, the leader shuts down with calls in flight, and the
// leader loses its quorum (both followers shut down) and with it
// leadership. Every call returns before its deadline, with an unknown
// outcome at worst; nothing is acknowledged while there is no quorum; and
// every acknowledged change is on every member at the end.
func TestHungFuturesAnswerInTime(t *testing.T) {
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
	var noQuorum [][2]time.Time
	for cycle := range *hungCycles {
		waitAcks(t, calls, 10)
		leader := leaderOf(t, ms)
		if cycle%2 == 0 {
			leader.stop()
			leaderOf(t, alive(ms))
			leader.boot()
			continue
		}
		var followers []*member
		for _, m := range ms {
			if m != leader {
				followers = append(followers, m)
				m.stop()
			}
		}
		from := time.Now()
		deadline := time.Now().Add(5 * time.Second)
		for leader.node.IsLeader() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if leader.node.IsLeader() {
			t.Fatal("a leader without a quorum kept leading for 5 s")
		}
		// Calls keep coming to the leader that was: they must fail.
		time.Sleep(100 * time.Millisecond)
		noQuorum = append(noQuorum, [2]time.Time{from, time.Now()})
		for _, m := range followers {
			m.boot()
		}
	}
	waitAcks(t, calls, 10)
	stop.Store(true)
	wg.Wait()
	waitApplied(t, ms)
	calls.mu.Lock()
	for _, a := range calls.acks {
		for _, w := range noQuorum {
			if a[0].After(w[0]) && a[1].Before(w[1]) {
				t.Errorf("a call made %v after the quorum was lost was acknowledged before it came back",
					a[0].Sub(w[0]))
			}
		}
	}
	calls.mu.Unlock()
	for _, m := range ms {
		byDesc := keysByDescription(t, m.store)
		for _, w := range writers {
			w.check(t, m, byDesc)
		}
	}
	calls.check(t)
	t.Logf("%d faults (%d leader shutdowns, %d quorum losses); calls: %v", *hungCycles, *hungCycles-len(noQuorum), len(noQuorum), calls)
}

// waitAcks waits until n more calls have been acknowledged.
func waitAcks(t *testing.T, calls *callLog, n int) {
	t.Helper()
	acks := func() int {
		calls.mu.Lock()
		defer calls.mu.Unlock()
		return calls.counts[acked]
	}
	want := acks() + n
	deadline := time.Now().Add(10 * time.Second)
	for acks() < want {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d calls acknowledged in 10 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
