package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/kmsd/kmsd/keystore"
)

// Node is one member of the raft cluster that replicates the key store.
type Node struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	logs  *LogStore
	trans *raft.NetworkTransport
	snaps raft.SnapshotStore
	// peerTLS is the Raft port's TLS listener; nil without Config.TLS.
	peerTLS *tlsStreamLayer
	fsm     *fsm
	store   *keystore.Store

	shutdownCh   chan struct{} // closed when Shutdown starts
	shutdownOnce sync.Once
	shutdownErr  error

	leader leadership
	// waiters counts goroutines waiting on raft futures (see wait).
	waiters atomic.Int64
	restore restoreGuard
	// fwd forwards commands to the leader; nil without Config.Forward.
	fwd *forwarder
	// reads shares read index requests to the leader; ready is closed once
	// this leader has applied its predecessors' entries, nil when it does
	// not lead (readindex.go).
	reads   readIndexer
	readyMu sync.Mutex
	ready   chan struct{}
	// leaderWait is how long a follower waits to learn of a leader before
	// it answers ErrNotLeader: ApplyTimeout, as long as any wait on raft
	// (an election on a loaded machine can take seconds).
	leaderWait time.Duration
	// storageCheck is Config.StorageCheck.
	storageCheck func() error
	// auditForwarded is the highest index of an audit batch this node
	// forwarded and the leader committed (AuditBarrier).
	auditForwarded atomic.Uint64
}

// New starts a node that applies committed entries to store. The store
// must stay open until Shutdown returns; Shutdown does not close it.
//
// If Config.Bootstrap is set and Dir holds no raft state, the node
// bootstraps a cluster of one. If the store has applied everything the
// latest snapshot holds, raft does not restore the snapshot on start; the
// store skips the entries it has applied already.
func New(cfg Config, store *keystore.Store) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	log := cfg.logger()
	logs, err := OpenLogStore(filepath.Join(cfg.Dir, "log"), log)
	if err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: log, logs: logs, store: store, shutdownCh: make(chan struct{})}
	if cfg.Forward != nil {
		fc := *cfg.Forward
		if fc.DialOptions == nil && cfg.TLS != nil {
			fc.DialOptions = []grpc.DialOption{cfg.TLS.DialOption()}
		}
		n.fwd = newForwarder(fc, cfg.heartbeatTimeout())
	}
	n.leaderWait = cfg.applyTimeout()
	n.storageCheck = cfg.StorageCheck
	if err := n.start(); err != nil {
		logs.Close()
		return nil, err
	}
	n.leader.start(n.raft, n.shutdownCh)
	go n.followLeadership()
	go n.paceSnapshots(n.snaps)
	return n, nil
}

// start opens the snapshot store and transport and starts raft.
func (n *Node) start() error {
	hlog := newHCLogger(n.log, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(n.cfg.Dir, snapshotsRetained, hlog.Named("snapshot"))
	if err != nil {
		return fmt.Errorf("cluster: snapshot store: %w", err)
	}
	rc := n.cfg.raftConfig(n.log)
	if rc.NoSnapshotRestoreOnStart, err = n.checkStoreIndex(snaps); err != nil {
		return err
	}
	trans, peerTLS, err := newTransport(n.cfg, hlog.Named("transport"))
	if err != nil {
		return err
	}
	if err := n.bootstrap(rc, snaps, trans); err != nil {
		trans.Close()
		return err
	}
	n.fsm = newFSM(n.store, n.log)
	cache, err := raft.NewLogCache(128, n.logs)
	if err == nil {
		n.raft, err = raft.NewRaft(rc, n.fsm, cache, n.logs, snaps, trans)
	}
	if err != nil {
		trans.Close()
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	n.trans, n.peerTLS, n.snaps = trans, peerTLS, snaps
	n.checkUnconfirmedRestore()
	return nil
}

// checkStoreIndex compares the store's applied index with what raft holds.
// It reports whether the latest snapshot is already in the store (so raft
// need not restore it), and refuses a store ahead of the log.
func (n *Node) checkStoreIndex(snaps raft.SnapshotStore) (skipRestore bool, err error) {
	list, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("cluster: list snapshots: %w", err)
	}
	var snapIndex uint64
	if len(list) > 0 {
		snapIndex = list[0].Index
	}
	lastLog, _ := n.logs.LastIndex()
	applied := n.store.AppliedIndex()
	if applied > max(snapIndex, lastLog) {
		return false, fmt.Errorf("%w: store applied index %d, raft log ends at %d, latest snapshot %d",
			ErrStoreAhead, applied, lastLog, snapIndex)
	}
	skip := len(list) > 0 && snapIndex <= applied
	n.log.Info("raft state", "applied_index", applied, "snapshot_index", snapIndex,
		"last_log_index", lastLog, "restore_snapshot", len(list) > 0 && !skip)
	return skip, nil
}

func newTransport(cfg Config, log hclog.Logger) (*raft.NetworkTransport, *tlsStreamLayer, error) {
	var advertise net.Addr
	if cfg.AdvertiseAddr != "" {
		addr, err := net.ResolveTCPAddr("tcp", cfg.AdvertiseAddr)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: AdvertiseAddr: %w", err)
		}
		advertise = addr
	}
	// MaxRPCsInFlight 1 turns raft's pipelined replication off: after a
	// partition heals, its pipeline can deadlock (the sender blocked on a
	// full in-flight channel while the response decoder waits for a reader
	// that is gone), leaving goroutines that keep sending heartbeats and
	// make Shutdown wait forever (found by e2e/TestNamespacedPartitions).
	tc := &raft.NetworkTransportConfig{MaxPool: 3, MaxRPCsInFlight: 1, Timeout: cfg.applyTimeout(), Logger: log}
	if cfg.TLS != nil {
		stream, err := newTLSStreamLayer(cfg.BindAddr, advertise, cfg.TLS)
		if err != nil {
			return nil, nil, fmt.Errorf("cluster: raft transport on %s: %w", cfg.BindAddr, err)
		}
		tc.Stream = stream
		return raft.NewNetworkTransportWithConfig(tc), stream, nil
	}
	trans, err := raft.NewTCPTransportWithConfig(cfg.BindAddr, advertise, tc)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: raft transport on %s: %w", cfg.BindAddr, err)
	}
	return trans, nil, nil
}

// bootstrap makes a cluster of one if asked to and there is no raft state.
func (n *Node) bootstrap(rc *raft.Config, snaps raft.SnapshotStore, trans raft.Transport) error {
	if !n.cfg.Bootstrap {
		return nil
	}
	existing, err := raft.HasExistingState(n.logs, n.logs, snaps)
	if err != nil || existing {
		return err
	}
	conf := raft.Configuration{Servers: []raft.Server{{
		Suffrage: raft.Voter,
		ID:       rc.LocalID,
		Address:  trans.LocalAddr(),
	}}}
	if len(n.cfg.Peers) > 0 {
		conf.Servers = nil
		for _, p := range n.cfg.Peers {
			conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
		}
	}
	n.log.Info("bootstrapping a cluster", "id", n.cfg.NodeID, "addr", trans.LocalAddr(), "voters", len(conf.Servers))
	if err := raft.BootstrapCluster(rc, n.logs, n.logs, snaps, trans, conf); err != nil {
		return fmt.Errorf("cluster: bootstrap: %w", err)
	}
	return nil
}

// Addr returns the raft address this node advertises.
func (n *Node) Addr() string {
	return string(n.trans.LocalAddr())
}

// Shutdown stops raft and closes the raft log. It does not close the key
// store. Calls after the first return the first call's result.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		close(n.shutdownCh)
		err := n.raft.Shutdown().Error()
		if n.fsm != nil {
			n.fsm.audit.drain() // the caller closes the store next
		}
		// Raft's transport keeps its connections to the other members
		// open after Shutdown: close them, so that neither side's
		// goroutines serving them outlive the node.
		n.trans.CloseStreams()
		n.leader.stop()
		if n.fwd != nil {
			n.fwd.close()
		}
		n.shutdownErr = errors.Join(err, n.logs.Close())
	})
	return n.shutdownErr
}

// Stats returns raft's statistics, the store's applied index and the
// number of goroutines waiting on raft futures.
func (n *Node) Stats() map[string]string {
	stats := n.raft.Stats()
	stats["store_applied_index"] = strconv.FormatUint(n.store.AppliedIndex(), 10)
	stats["future_waiters"] = strconv.FormatInt(n.waiters.Load(), 10)
	return stats
}
