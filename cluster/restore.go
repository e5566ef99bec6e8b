package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kmsd/kmsd/keystore"
)

// RestoreBackup prepares a node to start a new cluster from a backup of
// the key store: it restores the snapshot stream data into store (which
// must be empty) and records the same snapshot as the node's Raft
// snapshot at the backup's applied index, with this node as the only
// voter. Started afterwards with cfg (no peers, no join), the node elects
// itself and serves the backed-up state; other nodes join it as usual and
// receive the snapshot. cfg.Dir must hold no Raft state.
func RestoreBackup(cfg Config, store *keystore.Store, data io.Reader) (uint64, error) {
	if cfg.NodeID == "" || cfg.Dir == "" {
		return 0, errors.New("cluster: restore: NodeID and Dir are required")
	}
	if store.AppliedIndex() != 0 {
		return 0, errors.New("cluster: restore: the key store is not empty")
	}
	addr := cfg.AdvertiseAddr
	if addr == "" {
		addr = cfg.BindAddr
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	logs, err := OpenLogStore(filepath.Join(cfg.Dir, "log"), cfg.logger())
	if err != nil {
		return 0, err
	}
	defer logs.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.Dir, snapshotsRetained, newHCLogger(cfg.logger(), "snapshot"))
	if err != nil {
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	if existing, err := raft.HasExistingState(logs, logs, snaps); err != nil || existing {
		return 0, fmt.Errorf("cluster: restore: %s already holds Raft state (%v)", cfg.Dir, err)
	}
	// The snapshot is written while the store restores from the same
	// bytes; its index is only known at the end, so it goes to a
	// temporary file first.
	tmp, err := os.CreateTemp(cfg.Dir, "restore-*")
	if err != nil {
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := store.Restore(io.TeeReader(data, tmp)); err != nil {
		return 0, err
	}
	index := store.AppliedIndex()
	if index == 0 {
		return 0, errors.New("cluster: restore: the backup holds no applied index")
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(addr))
	conf := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(cfg.NodeID), Address: raft.ServerAddress(addr)}}}
	sink, err := snaps.Create(raft.SnapshotVersionMax, index, 1, conf, 1, trans)
	if err != nil {
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	if _, err := io.Copy(sink, tmp); err != nil {
		sink.Cancel()
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	if err := sink.Close(); err != nil {
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	return index, nil
}

// restoreIndexGap is how far above the Raft log's last index a backup
// restored into a running cluster is installed: far enough that entries
// appended while the restore is queued stay below it.
const restoreIndexGap = 1 << 16

// DefaultRestoreTimeout bounds Restore (and a ctx deadline beyond it).
const DefaultRestoreTimeout = 10 * time.Minute

// restoreGuard is the node's state around Restore.
type restoreGuard struct {
	mu sync.Mutex // held by the one Restore running
	// running is set while this leader installs a restore: reads are
	// refused meanwhile (raft's leader loop, busy copying the snapshot,
	// does not check its lease).
	running atomic.Bool
	// failedAt, when not zero, is fsm.restores+1 at a Restore that failed
	// after this node's state machine may have taken the backup's state,
	// which the cluster then may not hold: reads are refused until a
	// snapshot is restored again (a restore run again, or one installed
	// from the leader).
	failedAt atomic.Uint64
}

// restoreState returns ErrRestoring while reads must be refused because
// of a restore (restoreGuard).
func (n *Node) restoreState() error {
	if n.restore.running.Load() {
		return ErrRestoring
	}
	if f := n.restore.failedAt.Load(); f != 0 && n.fsm.restores.Load() < f {
		return fmt.Errorf("%w: a restore failed on this member after it may have replaced its state; run it again", ErrRestoring)
	}
	return nil
}

// Restore replaces the replicated state of the running cluster with a
// key-store snapshot stream (from a backup). Only the leader restores
// (ErrNotLeader otherwise), one restore at a time (ErrRestoring for a
// second). write must write the stream, size bytes, with its applied
// index set to the index it is given (keystore.Store.ReindexSnapshot),
// which is above every entry applied so far: raft installs the snapshot
// at that index — through the state machine here, and by sending it to
// every member, which replaces its state the same way — and Restore
// returns it once a quorum holds the restored state. Entries in flight
// when the restore starts fail, and reads on this leader are refused
// (ErrRestoring) until it returns. Restore waits at most until ctx's
// deadline or DefaultRestoreTimeout; ErrTimeout then means the outcome is
// unknown. If it fails after this node took the backup's state, the node
// refuses reads until a restore succeeds: run it again.
func (n *Node) Restore(ctx context.Context, size int64, write func(w io.Writer, index uint64) error) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	if ctx.Err() != nil {
		return 0, timeoutError(ctx)
	}
	if !n.restore.mu.TryLock() {
		return 0, fmt.Errorf("%w: another restore is running", ErrRestoring)
	}
	defer n.restore.mu.Unlock()
	timeout := DefaultRestoreTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	before := n.fsm.restores.Load()
	n.restore.running.Store(true)
	defer n.restore.running.Store(false)
	index := n.raft.LastIndex() + restoreIndexGap
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw, index)) }()
	f := &callFuture{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer pr.CloseWithError(errors.New("cluster: restore ended"))
		meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index - 1, Size: size}
		f.err = restoreError(n.raft.Restore(meta, pr, timeout))
	}()
	err := n.wait(ctx, f, timeout)
	if err == nil {
		if got := n.lastSnapshotIndex(); got != index {
			// Raft chose another index (entries appended past the gap):
			// the state says index, below raft's. Not expected; say so.
			err = fmt.Errorf("cluster: the restore was installed at raft index %d, not %d; run it again", got, index)
		}
	}
	if err != nil {
		if n.fsm.restores.Load() > before {
			n.restore.failedAt.Store(n.fsm.restores.Load() + 1)
			n.log.Error("a restore failed after this member took the backup's state, which the cluster may not hold: refusing reads until a restore succeeds", "index", index, "err", err)
		}
		return 0, err
	}
	n.restore.failedAt.Store(0)
	n.log.Warn("replicated state replaced by a restore", "index", index)
	return index, nil
}

// lastSnapshotIndex is the index of raft's latest snapshot.
func (n *Node) lastSnapshotIndex() uint64 {
	i, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	return i
}

// restoreError maps raft's refusals of a restore to this package's
// errors.
func restoreError(err error) error {
	if err != nil && strings.Contains(err.Error(), "cannot restore snapshot now") {
		// A membership change is being committed.
		return fmt.Errorf("%w: a membership change is being committed; retry", ErrRestoring)
	}
	return raftError(err)
}

// callFuture is a raft.Future for a blocking raft call made in a
// goroutine, so that waiting on it is bounded like waiting on a future.
type callFuture struct {
	done chan struct{}
	err  error
}

func (f *callFuture) Error() error {
	<-f.done
	return f.err
}
