package cluster

import (
	"context"
	"strconv"
	"sync"

	"github.com/hashicorp/raft"
)

// leadership follows raft's leadership changes and fans them out.
type leadership struct {
	raft     *raft.Raft
	observer *raft.Observer
	obsCh    chan raft.Observation
	done     chan struct{} // closed when watch returns

	mu       sync.Mutex
	isLeader bool
	// since is the last log index when this node last became leader: it
	// has applied everything its predecessors committed once it has
	// applied up to since.
	since   uint64
	subs    []chan bool
	changed chan struct{} // closed and replaced on every leader change
	stopped bool
}

func (l *leadership) start(r *raft.Raft, shutdown <-chan struct{}) {
	l.raft = r
	l.changed = make(chan struct{})
	l.done = make(chan struct{})
	l.obsCh = make(chan raft.Observation, 16)
	l.observer = raft.NewObserver(l.obsCh, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	r.RegisterObserver(l.observer)
	go l.watch(shutdown)
}

func (l *leadership) watch(shutdown <-chan struct{}) {
	defer close(l.done)
	for {
		select {
		case isLeader := <-l.raft.LeaderCh():
			l.set(isLeader)
		case <-l.obsCh:
			l.set(l.raft.State() == raft.Leader)
		case <-shutdown:
			return
		}
	}
}

// set records the leadership state, tells subscribers if it changed and
// wakes WaitForLeader.
func (l *leadership) set(isLeader bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if isLeader != l.isLeader {
		l.isLeader = isLeader
		for _, ch := range l.subs {
			sendLatest(ch, isLeader)
		}
	}
	close(l.changed)
	l.changed = make(chan struct{})
}

// sendLatest puts v in ch (capacity 1), replacing a value not yet read.
// Callers hold l.mu, so they are the only sender.
func sendLatest(ch chan bool, v bool) {
	select {
	case <-ch:
	default:
	}
	ch <- v
}

// stop waits for watch to return and closes the subscribers' channels.
func (l *leadership) stop() {
	l.raft.DeregisterObserver(l.observer)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	for _, ch := range l.subs {
		close(ch)
	}
	l.subs = nil
}

// LeaderCh returns a channel that receives whether this node is the leader:
// the current state at once, then every change. A slow receiver sees only
// the latest state. The channel is closed at Shutdown. The server runs
// leader-only work (the deletion scheduler) while the last value is true.
func (n *Node) LeaderCh() <-chan bool {
	l := &n.leader
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan bool, 1)
	if l.stopped {
		close(ch)
		return ch
	}
	ch <- l.isLeader
	l.subs = append(l.subs, ch)
	return ch
}

// IsLeader reports whether this node is the leader now.
func (n *Node) IsLeader() bool {
	return n.raft.State() == raft.Leader
}

// Leader returns the current leader's id and address, empty if unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// WaitForLeader waits until the cluster has a leader (any node), ctx is
// done (ErrTimeout) or the node shuts down (ErrShutdown). It is bounded by
// ctx only: an election may take longer than ApplyTimeout.
func (n *Node) WaitForLeader(ctx context.Context) error {
	for {
		n.leader.mu.Lock()
		changed := n.leader.changed
		n.leader.mu.Unlock()
		if addr, _ := n.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return timeoutError(ctx)
		case <-n.shutdownCh:
			return ErrShutdown
		}
	}
}

// Member is one server of the Raft configuration.
type Member struct {
	ID, Addr, APIAddr string
	Voter, Leader     bool
}

// Status is what this node knows of the cluster.
type Status struct {
	NodeID, State, LeaderID         string
	Term, LastLogIndex, CommitIndex uint64
	AppliedIndex                    uint64
	// StateDigest is the key store's digest at AppliedIndex.
	StateDigest [32]byte
	Members     []Member
}

// Status reports this node's view of the cluster: its Raft state and
// indexes and the members of the latest configuration.
func (n *Node) Status() (Status, error) {
	stats := n.raft.Stats()
	num := func(k string) uint64 { v, _ := strconv.ParseUint(stats[k], 10, 64); return v }
	leaderID, _ := n.Leader()
	st := Status{NodeID: n.cfg.NodeID, State: n.raft.State().String(), LeaderID: leaderID,
		Term: num("term"), LastLogIndex: num("last_log_index"), CommitIndex: num("commit_index")}
	st.AppliedIndex, st.StateDigest = n.store.DigestAt()
	f := n.raft.GetConfiguration()
	if err := n.wait(context.Background(), f, n.cfg.applyTimeout()); err != nil {
		return st, err
	}
	api := map[string]string{}
	for _, p := range n.cfg.Peers {
		api[p.ID] = p.APIAddr
	}
	for _, s := range f.Configuration().Servers {
		if a, ok := n.store.MemberAPIAddr(string(s.ID)); ok && api[string(s.ID)] == "" {
			api[string(s.ID)] = a
		}
	}
	for _, s := range f.Configuration().Servers {
		st.Members = append(st.Members, Member{ID: string(s.ID), Addr: string(s.Address), APIAddr: api[string(s.ID)],
			Voter: s.Suffrage == raft.Voter, Leader: string(s.ID) == leaderID})
	}
	return st, nil
}

// Configured reports whether this node belongs to a cluster configuration
// (false for a node that has not joined yet).
func (n *Node) Configured() bool {
	f := n.raft.GetConfiguration()
	if n.wait(context.Background(), f, n.cfg.applyTimeout()) != nil {
		return false
	}
	return len(f.Configuration().Servers) > 0
}

// NeedsJoin reports whether this node should ask the cluster to add it:
// it is in no configuration yet, or it is in one with another suffrage
// than Config.NonVoter asks for (a non-voter to be promoted, or a voter
// that asks to become a non-voter).
func (n *Node) NeedsJoin() bool {
	f := n.raft.GetConfiguration()
	if n.wait(context.Background(), f, n.cfg.applyTimeout()) != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.cfg.NodeID) {
			return (s.Suffrage == raft.Nonvoter) != n.cfg.NonVoter
		}
	}
	return true
}
