package server

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Restoring a backup into a running cluster (ClusterService.Restore,
// "kmsctl cluster snapshot restore FILE"). The leader receives the file
// into a temporary file in its data directory (0600, unlinked at once, so
// that nothing is left behind), checks all of it — made with this
// cluster's root key, unchanged, a key store snapshot that restores — and
// only then has Raft install it on every member (cluster.Node.Restore).
// Nothing changes when the file is refused.
//
// Everything is replaced but the cluster's membership, the audit log
// included: records committed after the backup was made are no longer in
// the live log (export them first with "kmsctl audit export"). The
// Restore call's own record, in the restored log, names the size and root
// of the log it replaced, and an auditor who keeps a checkpoint
// ("kmsctl audit verify --checkpoint") sees the log go back.

// clusterRestorer installs a backup's state on the running cluster
// (cluster.Node).
type clusterRestorer interface {
	Restore(ctx context.Context, size int64, write func(w io.Writer, index uint64) error) (uint64, error)
}

// memberLister gives the members' API addresses the restored state keeps
// (keystore.Store).
type memberLister interface {
	Members() map[string]string
}

// maxRestoreChunk bounds one message of a Restore stream.
const maxRestoreChunk = 1 << 20

// roomCheck is a StorageCheck that can tell whether a large write fits
// (cmd/kmsd's disk guard).
type roomCheck interface {
	Room(need uint64) error
}

// restoreCopies is how many times a backup's size a restore writes to the
// data directory at once: the file received, Raft's snapshot of it, the
// key store's spool while it restores, and the restored state (Badger's
// log, then its tables). The leader must not run out: raft stops a leader
// whose state machine fails to restore.
const restoreCopies = 5

func (c *clusterService) Restore(stream kmsv1.ClusterService_RestoreServer) error {
	ctx := stream.Context()
	s := c.srv
	r, ok := c.info.(clusterRestorer)
	ml, ok2 := s.store.(memberLister)
	if !ok || !ok2 || s.spoolDir == "" {
		return &apiError{code: codes.Unimplemented, name: excUnsupported, message: "This server cannot restore backups."}
	}
	if err := c.onLeader(); err != nil {
		return err
	}
	f, err := os.CreateTemp(s.spoolDir, "restore-*.backup")
	if err != nil {
		return fmt.Errorf("server: restore: %w", err)
	}
	// Unlinked at once: a crash leaves nothing behind.
	os.Remove(f.Name())
	defer f.Close()
	room, _ := s.storage.(roomCheck)
	size, err := receiveBackup(stream, f, room, restoreIdle)
	if err != nil {
		return err
	}
	h, data, err := OpenBackup(f, s.rootKey)
	if err != nil {
		return err
	}
	// A dry run: the stream must restore, or raft would stop the leader
	// when its state machine refused it; it also gives the size, with
	// the members as they are now (the address of a member that joins
	// while the restore is prepared may be lost: add it again).
	members := ml.Members()
	n, err := keystore.ReindexSnapshot(io.Discard, data, 1, members)
	if err != nil {
		s.log.WarnContext(ctx, "backup refused: its state does not restore", "err", err)
		return validationError("The backup's state cannot be restored.")
	}
	if room != nil {
		// Everything but the file received is still to be written.
		if err := room.Room(uint64(size) * (restoreCopies - 1)); err != nil {
			return err
		}
	}
	resp := &kmsv1.RestoreResponse{BackupNodeId: h.NodeID, BackupCreatedAt: timestamppb.New(h.CreatedAt),
		BackupAppliedIndex: h.AppliedIndex, Bytes: size}
	if c.audit != nil {
		if err := s.auditBarrier(ctx); err != nil {
			return err
		}
		size, _ := c.audit.Size()
		root, err := c.audit.Root(size)
		if err != nil {
			return err
		}
		resp.ReplacedAuditSize, resp.ReplacedAuditRoot = size, hex.EncodeToString(root[:])
	}
	resp.AppliedIndex, err = r.Restore(ctx, n, func(w io.Writer, index uint64) error {
		// The file was authenticated whole above; read again, every frame
		// is authenticated as it is read, and a change since makes the
		// copy fail before raft installs anything.
		data, err := openBackupData(f, s.rootKey)
		if err != nil {
			return err
		}
		_, err = keystore.ReindexSnapshot(w, data, index, members)
		return err
	})
	if errors.Is(err, cluster.ErrNotLeader) {
		if lerr := c.onLeader(); lerr != nil {
			return lerr
		}
	}
	if err != nil {
		return err
	}
	s.log.Warn("state restored from a backup", "backup_node", h.NodeID, "backup_created_at", h.CreatedAt,
		"backup_index", h.AppliedIndex, "index", resp.AppliedIndex, "replaced_audit_size", resp.ReplacedAuditSize)
	return stream.SendAndClose(resp)
}

// onLeader returns nil on the leader, and otherwise an error that names
// the leader's API address.
func (c *clusterService) onLeader() error {
	st, err := c.info.Status()
	if err != nil {
		return err
	}
	if st.State == "Leader" {
		return nil
	}
	for _, m := range st.Members {
		if m.ID == st.LeaderID && st.LeaderID != "" && m.APIAddr != "" {
			return &apiError{code: codes.FailedPrecondition, name: excNotLeader,
				message: fmt.Sprintf("Only the leader restores: call %s (node %s).", m.APIAddr, m.ID)}
		}
	}
	return cluster.ErrNotLeader
}

// restoreIdle bounds the wait for each chunk of a Restore upload: a client
// that stops sending does not hold the stream, its goroutine and the file
// received so far for as long as its connection lives.
const restoreIdle = time.Minute

// receiveBackup writes the chunks of stream to f and returns their size.
// With room, it stops (cluster.ErrStorageFull) before the data directory
// lacks the space the restore of what came so far needs. It gives up when
// no chunk arrives for idle.
func receiveBackup(stream kmsv1.ClusterService_RestoreServer, f *os.File, room roomCheck, idle time.Duration) (int64, error) {
	type received struct {
		chunk *kmsv1.RestoreChunk
		err   error
	}
	// One Recv at a time, in its own goroutine so that the wait can end;
	// a Recv still waiting when this returns ends with the stream.
	next := make(chan received, 1)
	timer := time.NewTimer(idle)
	defer timer.Stop()
	var size int64
	for {
		go func() {
			c, err := stream.Recv()
			next <- received{c, err}
		}()
		timer.Reset(idle)
		var r received
		select {
		case r = <-next:
		case <-timer.C:
			return 0, &apiError{code: codes.DeadlineExceeded, name: excValidation,
				message: fmt.Sprintf("No part of the backup arrived for %v; the upload was abandoned.", idle)}
		}
		chunk, err := r.chunk, r.err
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		if len(chunk.GetData()) > maxRestoreChunk {
			return 0, validationError("A chunk may hold at most %d bytes.", maxRestoreChunk)
		}
		if room != nil {
			// What is on disk already counts once; the rest is to come.
			if err := room.Room(uint64(size+int64(len(chunk.GetData())))*restoreCopies - uint64(size)); err != nil {
				return 0, err
			}
		}
		n, err := f.Write(chunk.GetData())
		size += int64(n)
		if err != nil {
			return 0, fmt.Errorf("server: restore: %w", err)
		}
	}
	if size == 0 {
		return 0, validationError("The backup file is empty.")
	}
	return size, f.Sync()
}
