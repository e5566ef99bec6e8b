package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/keystore"
)

// maxPrunesPerRun bounds the archive files one scheduler run writes.
const maxPrunesPerRun = 16

// pruneDue archives and removes the oldest audit records once they are
// older than the retention period. It works one signed head's interval at a
// time, the whole interval or nothing, and removes records only once their
// archive file is on disk. Each archive is an export file that verifies on
// its own (its heads carry the leaf hashes of every earlier record). Only
// the leader prunes; the removal is a log entry, so every node removes the
// same records once.
func (s *Server) pruneDue(ctx context.Context, now time.Time) {
	if s.audit == nil || s.retention <= 0 || !s.proposer.IsLeader() {
		return
	}
	for range maxPrunesPerRun {
		done, err := s.pruneNext(ctx, now)
		if err != nil {
			s.log.Warn("audit records not archived; will retry", "err", err)
			return
		}
		if !done {
			return
		}
	}
}

// pruneNext archives and removes the records from the first one held to
// the end of the signed head that covers it, if they are all older than the
// retention period. It reports whether it did.
func (s *Server) pruneNext(ctx context.Context, now time.Time) (bool, error) {
	first := s.audit.store.LogPruned()
	seq, sth, ok, err := s.headCovering(first)
	if err != nil || !ok {
		return false, err
	}
	if uint64(len(sth.Leaves)) != sth.Head.Size-sth.Head.PrevSize {
		return false, fmt.Errorf("signed tree head %d carries no leaf hashes; records from %d are kept", seq, first)
	}
	// Records are in commit order, and the clocks of successive leaders
	// may disagree a little: the newest of the interval decides.
	last, err := s.audit.store.LogRecords(sth.Head.Size-1, sth.Head.Size)
	if err != nil {
		return false, err
	}
	e, err := audit.ParseEvent(last[0])
	if err != nil {
		return false, fmt.Errorf("record %d: %w", sth.Head.Size-1, err)
	}
	if e.EventTime.After(now.Add(-s.retention)) {
		return false, nil
	}
	path, err := s.archive(ctx, first, sth.Head.Size, seq)
	if err != nil {
		return false, err
	}
	// In pieces a transaction can hold; if this stops half-way, the next
	// run archives the rest again (overlapping archives) and goes on.
	for from := first; from < sth.Head.Size; from += keystore.MaxPruneBatch {
		cctx, cancel := s.mutationContext(ctx)
		err = s.auditP.PruneAudit(cctx, from, min(from+keystore.MaxPruneBatch, sth.Head.Size))
		cancel()
		if errors.Is(err, keystore.ErrInvalidState) {
			return false, nil // pruned meanwhile
		}
		if err != nil {
			return false, err
		}
	}
	s.log.Info("audit records archived and removed", "from", first, "to", sth.Head.Size-1, "archive", path)
	return true, nil
}

// headCovering finds the signed head whose interval holds record first.
func (s *Server) headCovering(first uint64) (uint64, audit.SignedTreeHead, bool, error) {
	n := s.audit.store.LogHeadCount()
	var searchErr error
	head := func(i uint64) audit.SignedTreeHead {
		raw, err := s.audit.store.LogHeads(i, i+1)
		if err == nil && len(raw) == 1 {
			var sth audit.SignedTreeHead
			if sth, err = decodeHead(raw[0]); err == nil {
				return sth
			}
		}
		if searchErr == nil {
			searchErr = fmt.Errorf("signed tree head %d: %v", i, err)
		}
		return audit.SignedTreeHead{}
	}
	i := uint64(sort.Search(int(n), func(i int) bool { return head(uint64(i)).Head.Size > first }))
	if searchErr != nil || i >= n {
		return 0, audit.SignedTreeHead{}, false, searchErr
	}
	sth := head(i)
	if sth.Head.PrevSize > first {
		return 0, audit.SignedTreeHead{}, false, searchErr
	}
	return i, sth, searchErr == nil, searchErr
}

// archive writes records [first, end) with heads 0..seq to a new export
// file in the archive directory, synced, and returns its path.
func (s *Server) archive(ctx context.Context, first, end, seq uint64) (string, error) {
	recs, err := s.audit.store.LogRecords(first, end)
	if err != nil {
		return "", err
	}
	raw, err := s.audit.store.LogHeads(0, seq+1)
	if err != nil {
		return "", err
	}
	heads := make([]audit.SignedTreeHead, len(raw))
	for i, b := range raw {
		if heads[i], err = decodeHead(b); err != nil {
			return "", err
		}
	}
	pub, err := s.publicKey(ctx)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(s.archiveDir, 0o700); err != nil {
		return "", err
	}
	path := filepath.Join(s.archiveDir, fmt.Sprintf("audit-%012d-%012d.json", first, end-1))
	tmp, err := os.CreateTemp(s.archiveDir, ".audit-*.tmp")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	err = audit.WriteExportFrom(tmp, int64(first), recs, heads, pub)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err == nil {
		err = syncDir(s.archiveDir)
	}
	if err != nil {
		return "", fmt.Errorf("archive %s: %w", path, err)
	}
	return path, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
