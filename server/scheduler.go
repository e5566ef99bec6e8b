package server

import (
	"context"
	"errors"
	"time"

	"github.com/kmsd/kmsd/keystore"
)

// RunScheduler carries out the actions the service performs by itself: it
// deletes keys whose deletion date has passed. Only the Raft leader
// proposes; the deletion is a log entry, so it happens exactly once however
// leadership changes, and never on a follower's clock. RunScheduler returns
// when ctx is done.
func (s *Server) RunScheduler(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.runDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// runDue proposes every deletion that is due now.
func (s *Server) runDue(ctx context.Context) {
	if !s.proposer.IsLeader() {
		return
	}
	now := s.now().UTC()
	for _, id := range s.store.DueForDeletion(now) {
		err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpDeleteKey, Time: now, KeyID: id})
		switch {
		case err == nil:
			s.log.Info("key deleted at the end of its waiting period", "key_id", id)
		case errors.Is(err, keystore.ErrNotFound), errors.Is(err, keystore.ErrInvalidState):
			// Cancelled or deleted meanwhile.
		default:
			s.log.Warn("scheduled key deletion failed; will retry", "key_id", id, "err", err)
		}
	}
	s.materials.prune(func(id string) bool {
		_, err := s.store.Key(id)
		return err == nil
	})
}
