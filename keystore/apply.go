package keystore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// planFunc computes the change a mutation makes to v, or the domain error
// that refuses it. It must not modify v, read a clock or use randomness.
type planFunc func(v *view, m *Mutation) (change, error)

// planners dispatches mutations by op.
var planners = map[Op]planFunc{
	OpCreateKey:           planCreateKey,
	OpUpdateDescription:   planUpdateDescription,
	OpEnableKey:           planEnableKey,
	OpDisableKey:          planDisableKey,
	OpScheduleKeyDeletion: planScheduleKeyDeletion,
	OpCancelKeyDeletion:   planCancelKeyDeletion,
	OpDeleteKey:           planDeleteKey,
	OpCreateAlias:         planCreateAlias,
	OpUpdateAlias:         planUpdateAlias,
	OpDeleteAlias:         planDeleteAlias,
	OpTagResource:         planTagResource,
	OpUntagResource:       planUntagResource,
	OpEnableKeyRotation:   planEnableKeyRotation,
	OpDisableKeyRotation:  planDisableKeyRotation,
	OpRotateKey:           planRotateKey,
	OpAddUsage:            planAddUsage,
	OpReserveUsage:        planReserveUsage,

	OpAddImportParams:           planAddImportParams,
	OpImportKeyMaterial:         planImportKeyMaterial,
	OpDeleteImportedKeyMaterial: planDeleteImportedKeyMaterial,
	OpExpireKeyMaterial:         planExpireKeyMaterial,

	OpPutKeyPolicy: planPutKeyPolicy,
	OpCreateGrant:  planCreateGrant,
	OpRetireGrant:  planDeleteGrant,
	OpRevokeGrant:  planDeleteGrant,
}

// Apply applies the mutation carried by log entry index. It is
// deterministic: the outcome depends only on the current state and m.
//
// An index at or below AppliedIndex was applied already, and Apply returns
// nil without doing anything, so replaying a log is safe. Otherwise the
// change and the new applied index are committed (and fsynced) in one
// Badger transaction, then the in-memory view is updated.
//
// A mutation the state does not allow returns ErrNotFound,
// ErrAlreadyExists, ErrInvalidState, ErrLimitExceeded or ErrInvalidMutation
// (wrapped with context) and changes nothing but the applied index, which
// still advances. ErrStorage means the database failed: nothing changed,
// not even the applied index.
func (s *Store) Apply(index uint64, m *Mutation) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index <= s.applied.Load() {
		return nil
	}
	c, domainErr := plan(s.v, m)
	if domainErr != nil {
		c = change{}
	}
	if err := s.commit(index, c); err != nil {
		return fmt.Errorf("%w: apply index %d: %w", ErrStorage, index, err)
	}
	s.mu.Lock()
	s.v.apply(c)
	s.v.applied = index
	s.mu.Unlock()
	s.applied.Store(index)
	return domainErr
}

func plan(v *view, m *Mutation) (change, error) {
	if m == nil {
		return change{}, fmt.Errorf("%w: nil mutation", ErrInvalidMutation)
	}
	f, ok := planners[m.Op]
	if !ok {
		f, ok = identityPlanners[m.Op]
	}
	if !ok {
		return change{}, fmt.Errorf("%w: unknown op %q", ErrInvalidMutation, m.Op)
	}
	return f(v, m)
}

// commit writes c and the applied index in one synced transaction.
func (s *Store) commit(index uint64, c change) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, k := range c.putKeys {
		if err := setJSON(txn, prefixKey+k.ID, k); err != nil {
			return err
		}
	}
	for _, a := range c.putAliases {
		if err := setJSON(txn, prefixAlias+a.Name, a); err != nil {
			return err
		}
	}
	for _, id := range c.delKeys {
		if err := txn.Delete([]byte(prefixKey + id)); err != nil {
			return err
		}
	}
	for _, name := range c.delAliases {
		if err := txn.Delete([]byte(prefixAlias + name)); err != nil {
			return err
		}
	}
	for _, p := range c.putImports {
		if err := setJSON(txn, prefixImport+p.WrappingKeyID, p); err != nil {
			return err
		}
	}
	for _, id := range c.delImports {
		if err := txn.Delete([]byte(prefixImport + id)); err != nil {
			return err
		}
	}
	if c.grants != nil {
		if err := c.grants.commit(txn); err != nil {
			return err
		}
	}
	if c.iam != nil {
		if err := c.iam.commit(txn); err != nil {
			return err
		}
	}
	for node, seq := range c.usage {
		if err := txn.Set([]byte(prefixUsage+node), be64(seq)); err != nil {
			return err
		}
	}
	if err := txn.Set([]byte(keyApplied), be64(index)); err != nil {
		return err
	}
	return txn.Commit()
}

func setJSON(txn *badger.Txn, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return txn.Set([]byte(key), b)
}

func be64(x uint64) []byte {
	return binary.BigEndian.AppendUint64(nil, x)
}
