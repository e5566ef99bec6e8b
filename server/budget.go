package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/keystore"
)

// With a usage limit (Config.RotateAfterEncryptions), a key's material may
// make at most that many encryptions, whatever the number of nodes and
// however leadership changes. Before it encrypts, a node takes one use from
// its local budget for the material; an empty budget is refilled through
// the log (OpReserveUsage), which allots uses to nodes until the limit is
// reached. When nothing more is allotted the material is rotated at once and
// the encryption uses the new material; a key whose material cannot be
// rotated by the service (imported material) refuses to encrypt.
//
// Uses allotted to a node that stops before making them are never made, so
// a material may retire with fewer than the limit; it never makes more.

// maxReserve bounds one refill: the uses a node may lose if it stops.
const maxReserve = 64

// errUsageExhausted answers an encryption with material that reached its
// limit and cannot be rotated by the service.
var errUsageExhausted = &apiError{code: codes.ResourceExhausted, name: excLimitExceeded,
	message: "The key's current material has made the maximum number of encryptions and could not be rotated."}

// useBudgets holds this node's budgets, per key material.
type useBudgets struct {
	m sync.Map // materialKey -> *useBudget
}

type useBudget struct {
	left atomic.Int64 // uses this node may still make
	mu   sync.Mutex   // serializes refills
	// total is what the log has allotted to this node so far, as last
	// read; seq the number of its last request.
	total, seq uint64
	loaded     bool
}

func (b *useBudgets) get(keyID, materialID string) *useBudget {
	mk := materialKey{keyID: keyID, materialID: materialID}
	if v, ok := b.m.Load(mk); ok {
		return v.(*useBudget)
	}
	v, _ := b.m.LoadOrStore(mk, new(useBudget))
	return v.(*useBudget)
}

// tryTake takes one use if one is left.
func (u *useBudget) tryTake() bool {
	if u.left.Add(-1) >= 0 {
		return true
	}
	u.left.Add(1)
	return false
}

// takeUse takes one use of material m of key k for an encryption,
// refilling the budget through the log when it is empty. It reports false
// when the material has no use left.
func (s *Server) takeUse(ctx context.Context, k *keystore.Key, m *material) (bool, error) {
	b := s.budgets.get(k.ID, m.materialKey)
	if b.tryTake() {
		return true, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tryTake() {
		return true, nil // refilled while this call waited
	}
	if !b.loaded {
		v, _ := k.Version(m.materialKey)
		b.total, b.seq, b.loaded = v.AllottedTo[s.nodeID], v.AllotSeq[s.nodeID], true
	}
	err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpReserveUsage, Time: s.now().UTC(), KeyID: k.ID,
		MaterialID: m.materialKey, Reserve: &keystore.Reservation{Node: s.nodeID, Seq: b.seq + 1,
			Count: min(maxReserve, max(1, s.usageMax/16)), Limit: s.usageMax}})
	if err != nil {
		// The outcome may be unknown: the next refill asks again with the
		// same number and learns what was allotted.
		return false, err
	}
	cur, err := s.store.Key(k.ID)
	if err != nil {
		return false, err
	}
	v, ok := cur.Version(m.materialKey)
	if !ok {
		return false, nil
	}
	got := v.AllottedTo[s.nodeID] - b.total
	b.total, b.seq = v.AllottedTo[s.nodeID], v.AllotSeq[s.nodeID]
	if got == 0 {
		return false, nil
	}
	b.left.Add(int64(got) - 1)
	return true, nil
}

// rotateExhausted rotates key k away from material fromID, which has no
// use left. A rotation done meanwhile by another caller or node is fine.
func (s *Server) rotateExhausted(ctx context.Context, k *keystore.Key, fromID string) error {
	if k.Origin != keystore.OriginAWSKMS {
		return errUsageExhausted
	}
	v, err := s.newKeyVersion(k.ID)
	if err != nil {
		return err
	}
	err = s.propose(ctx, &keystore.Mutation{Op: keystore.OpRotateKey, Time: s.now().UTC(), KeyID: k.ID,
		RotationType: keystore.RotationAutomatic, FromMaterialID: fromID, UsageLimit: s.usageMax, Version: v})
	switch {
	case err == nil:
		s.log.Info("key rotated after its usage limit", "key_id", k.ID, "key_material_id", v.MaterialID)
		s.recordServiceEvent(ctx, "RotateKey", k.ID, map[string]any{
			"rotationType": keystore.RotationAutomatic, "keyMaterialId": v.MaterialID, "reason": "usage limit"})
		return nil
	case errors.Is(err, keystore.ErrInvalidState):
		return nil // rotated meanwhile
	}
	return err
}
