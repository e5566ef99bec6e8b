package cluster

import (
	"time"

	"github.com/hashicorp/raft"
)

// Metrics are the numbers a monitoring system follows on a node: its Raft
// state and how far applying trails the log. Reading them takes no lock
// that a Raft operation holds for long.
type Metrics struct {
	// State is "Leader", "Follower", "Candidate" or "Shutdown".
	State string
	// HasLeader reports whether this node knows of a leader.
	HasLeader bool
	// Term is the current Raft term.
	Term uint64
	// LastLogIndex is the last entry in this node's log; CommitIndex the
	// last it knows to be committed; AppliedIndex the last Raft handed to
	// the state machine; StoreAppliedIndex the last the key store holds.
	LastLogIndex, CommitIndex, AppliedIndex, StoreAppliedIndex uint64
	// SinceContact is how long ago a follower last heard from its leader;
	// zero on the leader, negative if it never did.
	SinceContact time.Duration
	// SnapshotThreshold is how many entries after a snapshot trigger the
	// next: Config.SnapshotThreshold, or more for a large state
	// (snapshotpace.go).
	SnapshotThreshold uint64
}

// Metrics returns this node's Raft numbers.
func (n *Node) Metrics() Metrics {
	m := Metrics{
		State:             n.raft.State().String(),
		Term:              n.raft.CurrentTerm(),
		LastLogIndex:      n.raft.LastIndex(),
		CommitIndex:       n.raft.CommitIndex(),
		AppliedIndex:      n.raft.AppliedIndex(),
		StoreAppliedIndex: n.store.AppliedIndex(),
		SnapshotThreshold: n.raft.ReloadableConfig().SnapshotThreshold,
	}
	addr, _ := n.raft.LeaderWithID()
	m.HasLeader = addr != ""
	switch last := n.raft.LastContact(); {
	case n.raft.State() == raft.Leader:
	case last.IsZero():
		m.SinceContact = -1
	default:
		m.SinceContact = time.Since(last)
	}
	return m
}
