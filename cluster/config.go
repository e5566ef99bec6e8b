package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"time"

	"github.com/hashicorp/raft"
)

// Config configures a Node. It is not modified by New. Zero values of the
// optional fields mean the documented defaults.
type Config struct {
	// NodeID names this node in the cluster; required and stable across
	// restarts.
	NodeID string
	// BindAddr is the raft TCP listen address, e.g. "127.0.0.1:7401".
	// Port 0 picks a free port (see Node.Addr).
	BindAddr string
	// AdvertiseAddr is the address other nodes use to reach this one.
	// Default: BindAddr, which must then not be an unspecified address.
	AdvertiseAddr string
	// Dir holds the raft log and stable store (Badger, in Dir/log) and the
	// snapshots (Dir/snapshots). Created owner-only if missing.
	Dir string
	// Bootstrap makes this node a single-node cluster if Dir holds no raft
	// state yet, or, with Peers, a cluster of those voters (every peer is
	// started with the same list). It is ignored once there is state.
	Bootstrap bool
	// Peers lists the voters of a cluster bootstrapped together, this node
	// included. Empty means a cluster of one.
	Peers []Peer
	// Forward, when set, makes a follower send the commands it is asked to
	// apply to the leader (see forward.go); Peers must then give every
	// member's APIAddr. Nil: a follower answers ErrNotLeader.
	Forward *ForwardConfig
	// TLS, when set, secures the Raft transport (only members' certificates
	// are accepted) and forwarding (see TLSConfig). Nil: plain TCP, for
	// loopback and trusted networks only.
	TLS *TLSConfig
	// NonVoter makes Join add this node as a non-voter: it receives the
	// log and serves calls from its copy of the state, but does not vote
	// or count towards a commit, so it adds capacity (or a replica in a
	// distant zone) without slowing writes or weakening the quorum.
	NonVoter bool
	// APIAddr is this node's gRPC API address, which a node that joins
	// (Node.Join) announces to the others.
	APIAddr string

	// SnapshotThreshold is the number of new entries that triggers a
	// snapshot (default 8192), raised for a large state so that the log
	// holds half the state's size first (snapshotpace.go);
	// SnapshotInterval how often to check (default 120 s); TrailingLogs
	// how many entries to keep after a snapshot (default 10240).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// snapshotPaceFloor, if set, replaces the constant snapshotPaceFloor
	// (tests).
	snapshotPaceFloor uint64

	// Raft timers; defaults are hashicorp/raft's (1 s, 1 s, 500 ms). Tests
	// shorten them. LeaderLeaseTimeout defaults to at most HeartbeatTimeout.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration

	// ApplyTimeout bounds every wait on a raft future (Apply, Snapshot);
	// default 5 s.
	ApplyTimeout time.Duration

	// StorageCheck, if set, is asked before every command this node
	// proposes (its own, and those forwarded to it as the leader) but
	// audit records: an error (ErrStorageFull) refuses the command before
	// it reaches the log, so that a data directory running out of space
	// stops taking new entries before the disk is full. Audit records are
	// taken all the same, for the calls already let in (some may have made
	// changes), so that no change goes unrecorded; the server refuses new
	// calls on the same check.
	StorageCheck func() error

	// Logger receives raft's logs. Nil discards them.
	Logger *slog.Logger
}

// Peer is a voter of the initial configuration.
type Peer struct {
	ID   string
	Addr string
	// APIAddr is the member's gRPC API address, where its ForwardService
	// runs; needed for forwarding.
	APIAddr string
}

// Defaults.
const (
	DefaultBindAddr     = "127.0.0.1:7401"
	DefaultApplyTimeout = 5 * time.Second
	snapshotsRetained   = 2
)

// DefaultConfig returns a configuration with the defaults filled in; the
// caller sets NodeID and Dir.
func DefaultConfig() Config {
	return Config{BindAddr: DefaultBindAddr, ApplyTimeout: DefaultApplyTimeout, Bootstrap: true}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("cluster: config: NodeID is required")
	case c.Dir == "":
		return errors.New("cluster: config: Dir is required")
	case c.BindAddr == "":
		return errors.New("cluster: config: BindAddr is required")
	case c.SnapshotInterval < 0, c.HeartbeatTimeout < 0, c.ElectionTimeout < 0,
		c.LeaderLeaseTimeout < 0, c.ApplyTimeout < 0:
		return errors.New("cluster: config: negative duration")
	}
	if _, _, err := net.SplitHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("cluster: config: BindAddr: %w", err)
	}
	if c.Forward != nil && c.Forward.Auth == nil {
		return errors.New("cluster: config: Forward needs an Authenticator")
	}
	if len(c.Peers) > 0 && !slices.ContainsFunc(c.Peers, func(p Peer) bool { return p.ID == c.NodeID }) {
		return fmt.Errorf("cluster: config: Peers does not include this node (%q)", c.NodeID)
	}
	if c.AdvertiseAddr != "" {
		addr, err := net.ResolveTCPAddr("tcp", c.AdvertiseAddr)
		if err != nil {
			return fmt.Errorf("cluster: config: AdvertiseAddr: %w", err)
		}
		if addr.IP == nil || addr.IP.IsUnspecified() || addr.Port == 0 {
			return fmt.Errorf("cluster: config: AdvertiseAddr %q is not reachable by other nodes", c.AdvertiseAddr)
		}
	}
	return nil
}

func (c Config) applyTimeout() time.Duration {
	if c.ApplyTimeout == 0 {
		return DefaultApplyTimeout
	}
	return c.ApplyTimeout
}

// heartbeatTimeout is raft's heartbeat timeout (raftConfig).
func (c Config) heartbeatTimeout() time.Duration {
	if c.HeartbeatTimeout == 0 {
		return raft.DefaultConfig().HeartbeatTimeout
	}
	return c.HeartbeatTimeout
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// raftConfig translates c into hashicorp/raft's configuration.
func (c Config) raftConfig(log *slog.Logger) *raft.Config {
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(c.NodeID)
	// Followers learn that an entry committed from the leader's next
	// AppendEntries, which without new entries comes after CommitTimeout
	// (raft's default 50 ms). A follower that forwarded a mutation waits
	// for that before it answers, so keep it short: 2 ms took CreateKey
	// through three members from 943 to 1,196 per second (64 callers), for
	// about 3 % of a core on an idle leader.
	rc.CommitTimeout = 2 * time.Millisecond
	// Proposals queue up while the leader writes the log, and the next
	// write takes them all (one fsync). Raft then no longer bounds how
	// long a proposal waits to be queued; every wait here is bounded by
	// ApplyTimeout anyway, and a timed-out proposal's outcome is unknown.
	rc.BatchApplyCh = true
	rc.Logger = newHCLogger(log, "raft")
	if c.SnapshotThreshold != 0 {
		rc.SnapshotThreshold = c.SnapshotThreshold
	}
	if c.SnapshotInterval != 0 {
		rc.SnapshotInterval = c.SnapshotInterval
	}
	if c.TrailingLogs != 0 {
		rc.TrailingLogs = c.TrailingLogs
	}
	if c.HeartbeatTimeout != 0 {
		rc.HeartbeatTimeout = c.HeartbeatTimeout
		rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, c.HeartbeatTimeout)
		rc.ElectionTimeout = max(rc.ElectionTimeout, c.HeartbeatTimeout)
	}
	if c.ElectionTimeout != 0 {
		rc.ElectionTimeout = c.ElectionTimeout
	}
	if c.LeaderLeaseTimeout != 0 {
		rc.LeaderLeaseTimeout = c.LeaderLeaseTimeout
	}
	return rc
}
