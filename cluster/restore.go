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

// DefaultRestoreTimeout bounds how long raft may take to install a
// restore; the caller of Restore may stop waiting sooner (its ctx).
const DefaultRestoreTimeout = 10 * time.Minute

// restoreGuard is the node's state around Restore.
type restoreGuard struct {
	mu sync.Mutex // held while a restore runs in raft
	// running is set while this leader installs a restore: reads are
	// refused meanwhile (raft's leader loop, busy copying the snapshot,
	// does not check its lease).
	running atomic.Bool
	// failedAt, when not zero, is fsm.restores+1 after a restore that
	// may have replaced this member's state without the cluster holding
	// it (it failed, or its outcome is unknown, after the state machine
	// took the backup's state; or the node restarted with an unconfirmed
	// restore, see unconfirmedFile): reads are refused until a snapshot
	// is restored again (a restore run again, or one installed from the
	// leader).
	failedAt atomic.Uint64
}

// unconfirmedFile, in the raft directory, exists while a restore runs in
// raft on this node: one found at start is a restore whose outcome this
// member never learned.
const unconfirmedFile = "restore-unconfirmed"

// restoreState returns ErrRestoring while reads must be refused because
// of a restore (restoreGuard).
func (n *Node) restoreState() error {
	if n.restore.running.Load() {
		return ErrRestoring
	}
	f := n.restore.failedAt.Load()
	if f == 0 {
		return nil
	}
	if n.fsm.restores.Load() < f {
		return fmt.Errorf("%w: a restore failed on this member after it may have replaced its state; run it again", ErrRestoring)
	}
	// A snapshot was restored since: the state is the cluster's again.
	if n.restore.failedAt.CompareAndSwap(f, 0) {
		removeMarker(n, filepath.Join(n.cfg.Dir, unconfirmedFile))
		n.log.Info("a snapshot was restored since the restore that failed: serving reads again")
	}
	return nil
}

// checkUnconfirmedRestore is called at start, after raft has restored its
// snapshot: a restore this node ran and never saw the end of leaves it
// refusing reads until a snapshot is restored again.
func (n *Node) checkUnconfirmedRestore() {
	if _, err := os.Stat(filepath.Join(n.cfg.Dir, unconfirmedFile)); err == nil {
		n.restore.failedAt.Store(n.fsm.restores.Load() + 1)
		n.log.Error("this member stopped during a restore whose outcome it never learned: refusing reads until a restore succeeds or the leader sends it a snapshot; run the restore again")
	}
}

// Restore replaces the replicated state of the running cluster with a
// key-store snapshot stream (from a backup). Only the leader restores
// (ErrNotLeader otherwise), one restore at a time (ErrRestoring for a
// second). write must write the stream, size bytes, with its applied
// index set to the index it is given (keystore.ReindexSnapshot), which is
// above every entry applied so far: raft installs the snapshot at that
// index — through the state machine here, and by sending it to every
// member, which replaces its state the same way — and Restore returns it
// once a quorum holds the restored state. Entries in flight when the
// restore starts fail with an unknown outcome, and reads on this leader
// are refused (ErrRestoring) until raft is done with it (at most
// DefaultRestoreTimeout), even if Restore returned before because ctx was
// done (ErrTimeout: the outcome is unknown; the restore goes on).
// If it fails, or its outcome stays unknown, after this node took the
// backup's state, the node refuses reads until a snapshot is restored
// again: run it again.
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
	// Once started, a restore runs to its end whatever the caller does:
	// raft gets the whole DefaultRestoreTimeout.
	timeout := DefaultRestoreTimeout
	marker := filepath.Join(n.cfg.Dir, unconfirmedFile)
	if err := writeMarker(marker); err != nil {
		n.restore.mu.Unlock()
		return 0, fmt.Errorf("cluster: restore: %w", err)
	}
	before := n.fsm.restores.Load()
	n.restore.running.Store(true)
	index := n.raft.LastIndex() + restoreIndexGap
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw, index)) }()
	call := &callFuture{done: make(chan struct{})}
	go func() {
		defer close(call.done)
		defer pr.CloseWithError(errors.New("cluster: restore ended"))
		meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index - 1, Size: size}
		call.err = restoreError(n.raft.Restore(meta, pr, timeout))
	}()
	// The outcome is settled here, whatever becomes of the caller: the
	// guard is released when raft is done, or (raft's futures can hang,
	// hashicorp/raft#498) after the timeout and as much again.
	done := make(chan error, 1)
	go func() { done <- n.settleRestore(call, before, index, marker, 2*timeout) }()
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
		n.log.Warn("replicated state replaced by a restore", "index", index)
		return index, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: the restore goes on; its outcome is unknown", timeoutError(ctx))
	case <-n.shutdownCh:
		return 0, ErrShutdown
	}
}

// settleRestore waits for raft's answer to a restore (at most limit),
// records its outcome in the guard and releases it.
func (n *Node) settleRestore(call *callFuture, before, index uint64, marker string, limit time.Duration) error {
	defer n.restore.mu.Unlock()
	defer n.restore.running.Store(false)
	var err error
	select {
	case <-call.done:
		err = call.err
	case <-time.After(limit):
		err = fmt.Errorf("%w: raft did not finish the restore in time; its outcome is unknown", ErrTimeout)
	case <-n.shutdownCh:
		err = ErrShutdown
	}
	if err == nil {
		if got := n.lastSnapshotIndex(); got > index {
			// Raft chose a higher index (entries appended past the gap):
			// the state says index, below raft's. Not expected; say so.
			err = fmt.Errorf("cluster: the restore was installed at raft index %d, not %d; run it again", got, index)
		}
	}
	switch {
	case err == nil:
		n.restore.failedAt.Store(0)
		removeMarker(n, marker)
	case n.fsm.restores.Load() > before:
		// The marker stays, so that a restart still refuses reads.
		n.restore.failedAt.Store(n.fsm.restores.Load() + 1)
		n.log.Error("a restore failed after this member took the backup's state, which the cluster may not hold: refusing reads until a restore succeeds", "index", index, "err", err)
	case errors.Is(err, ErrShutdown):
		// The marker stays: the outcome is unknown.
	case n.restore.failedAt.Load() == 0:
		// Refused before the state was touched, on a member that serves.
		removeMarker(n, marker)
	}
	return err
}

func removeMarker(n *Node, marker string) {
	if err := os.Remove(marker); err != nil && !os.IsNotExist(err) {
		n.log.Warn("restore marker not removed", "err", err)
	}
}

// writeMarker creates path, synced, so that a restart finds it.
func writeMarker(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
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
