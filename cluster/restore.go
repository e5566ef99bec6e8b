package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// DefaultRestoreTimeout bounds Restore when ctx has no deadline.
const DefaultRestoreTimeout = 10 * time.Minute

// Restore replaces the replicated state of the running cluster with a
// key-store snapshot stream (from a backup). Only the leader restores
// (ErrNotLeader otherwise). write must write the stream, size bytes, with
// its applied index set to the index it is given (keystore.ReindexSnapshot),
// which is above every entry applied so far: raft installs the snapshot
// at that index — through the state machine here, and by sending it to
// every member, which replaces its state the same way — and Restore
// returns it once a quorum holds the restored state. Entries in flight
// when the restore starts fail. Restore waits at most until ctx's
// deadline (DefaultRestoreTimeout without one); ErrTimeout then means the
// outcome is unknown.
func (n *Node) Restore(ctx context.Context, size int64, write func(w io.Writer, index uint64) error) (uint64, error) {
	if n.raft.State() != raft.Leader {
		return 0, ErrNotLeader
	}
	timeout := DefaultRestoreTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	index := n.raft.LastIndex() + restoreIndexGap
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw, index)) }()
	f := &callFuture{done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer pr.CloseWithError(errors.New("cluster: restore ended"))
		meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: index - 1, Size: size}
		f.err = n.raft.Restore(meta, pr, timeout)
	}()
	if err := n.wait(ctx, f, timeout); err != nil {
		return 0, err
	}
	n.log.Warn("replicated state replaced by a restore", "index", index, "raft_applied_index", n.raft.AppliedIndex())
	return index, nil
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
