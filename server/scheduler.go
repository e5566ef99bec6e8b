package server

import (
	"context"
	"errors"
	"time"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/keystore"
)

// RunScheduler carries out the actions the service performs by itself: it
// deletes keys whose deletion date has passed, rotates keys whose rotation
// is due, and commits this node's encryption counts. Only the Raft leader
// proposes; the deletion is a log entry, so it happens exactly once however
// leadership changes, and never on a follower's clock. RunScheduler returns
// when ctx is done.
func (s *Server) RunScheduler(ctx context.Context) {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	u := time.NewTicker(s.usageTick)
	defer u.Stop()
	sign := time.NewTicker(s.signEvery)
	defer sign.Stop()
	s.runDue(ctx)
	s.signIfLeader(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sign.C:
			s.signIfLeader(ctx)
			continue
		case <-s.signKick:
			s.signIfLeader(ctx)
			continue
		case <-u.C:
			if err := s.reportUsage(ctx); err != nil {
				s.log.Warn("encryption counts not committed; will retry", "err", err)
			}
			continue
		case <-t.C:
		}
		s.runDue(ctx)
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
			s.recordServiceEvent(ctx, "DeleteKey", id, map[string]any{})
		case errors.Is(err, keystore.ErrNotFound), errors.Is(err, keystore.ErrInvalidState):
			// Cancelled or deleted meanwhile.
		default:
			s.log.Warn("scheduled key deletion failed; will retry", "key_id", id, "err", err)
		}
	}
	s.rotateDue(ctx, now)
	s.expireDue(ctx, now)
	s.pruneDue(ctx, now)
	s.materials.prune(func(keyID, materialID string) bool {
		k, err := s.store.Key(keyID)
		if err != nil {
			return false
		}
		v, ok := k.Version(materialID)
		return ok && !v.Deleted()
	})
}

// recordServiceEvent commits the record of an action the service took by
// itself. The action is committed already; if its record cannot be, the
// failure is logged.
func (s *Server) recordServiceEvent(ctx context.Context, name, keyID string, details map[string]any) {
	if s.auditW == nil {
		return
	}
	e, err := s.serviceEvent(name, keyID, details)
	var rec []byte
	if err == nil {
		rec, err = e.Canonical()
	}
	if err == nil {
		err = s.auditW.append(rec, e.EventID, s.recordMAC(audit.LeafHash(rec)))
	}
	if err != nil {
		s.log.Error("audit record of a service event not committed", "event", name, "key_id", keyID, "err", err)
	}
}

// rotateDue proposes every rotation that is due. Each carries the material
// it rotates from and the date or usage that made it due, so the state
// machine applies it once even if an old and a new leader both propose it.
func (s *Server) rotateDue(ctx context.Context, now time.Time) {
	for _, due := range s.store.DueForRotation(now, s.usageMax) {
		v, err := s.newKeyVersion(due.KeyID)
		if err != nil {
			s.log.Error("cannot make key material for rotation", "key_id", due.KeyID, "err", err)
			continue
		}
		err = s.propose(ctx, &keystore.Mutation{Op: keystore.OpRotateKey, Time: now, KeyID: due.KeyID,
			RotationType: keystore.RotationAutomatic, FromMaterialID: due.FromMaterialID,
			DueDate: due.DueDate, UsageLimit: due.UsageLimit, Version: v})
		switch {
		case err == nil:
			s.log.Info("key rotated automatically", "key_id", due.KeyID, "key_material_id", v.MaterialID)
			s.recordServiceEvent(ctx, "RotateKey", due.KeyID, map[string]any{
				"rotationType": keystore.RotationAutomatic, "keyMaterialId": v.MaterialID})
		case errors.Is(err, keystore.ErrInvalidState), errors.Is(err, keystore.ErrNotFound):
			// Rotated, disabled or deleted meanwhile.
		default:
			s.log.Warn("automatic rotation failed; will retry", "key_id", due.KeyID, "err", err)
		}
	}
}
