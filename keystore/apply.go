package keystore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
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

// IndexedMutation is a mutation and the index of the log entry that
// carries it.
type IndexedMutation struct {
	Index    uint64
	Mutation *Mutation
}

// ApplyMutations applies consecutive log entries as Apply would, one after
// the other, but commits them in as few synced transactions as Badger
// allows (usually one): under load, a burst of committed mutations costs
// one fsync, not one each. errs[i] is entry i's domain error, or nil.
//
// Each entry is planned against the state the ones before it left, and the
// in-memory view changes before the transaction commits: readers may see
// an entry's effect just before it is fsynced here, which is safe because
// the entries are committed (they are in the raft log of a quorum, and a
// node that stops before the fsync applies them again). Nothing is
// acknowledged before ApplyMutations returns. ErrStorage (returned as err)
// means the database failed part way: the node must stop.
func (s *Store) ApplyMutations(entries []IndexedMutation) (errs []error, err error) {
	errs = make([]error, len(entries))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// pending are the changes of the transaction being built, up to index
	// last; a change is written whole or not at all.
	var pending []change
	var pendingIdx []uint64
	var last uint64
	// commit commits cs (the changes of entries idx) in one transaction,
	// or one transaction each if they do not fit with the applied index.
	commit := func(cs []change, idx []uint64) error {
		err := s.commit(idx[len(idx)-1], cs...)
		if !errors.Is(err, badger.ErrTxnTooBig) {
			return err
		}
		for j, c := range cs {
			if err := s.commit(idx[j], c); err != nil {
				return err
			}
		}
		return nil
	}
	var txn *badger.Txn
	defer func() {
		if txn != nil {
			txn.Discard()
		}
	}()
	for i, e := range entries {
		if e.Index <= s.applied.Load() || (last != 0 && e.Index <= last) {
			continue
		}
		c, domainErr := plan(s.v, e.Mutation)
		if domainErr != nil {
			c = change{}
		}
		errs[i] = domainErr
		if txn == nil {
			txn = s.db.NewTransaction(true)
		}
		if werr := writeChange(txn, c); werr != nil {
			if !errors.Is(werr, badger.ErrTxnTooBig) || len(pending) == 0 {
				return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, e.Index, werr)
			}
			// Too big with this change: commit the ones before it on
			// their own, and start again from this one.
			txn.Discard()
			if err := commit(pending, pendingIdx); err != nil {
				return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, last, err)
			}
			s.applied.Store(last)
			pending, pendingIdx = pending[:0], pendingIdx[:0]
			txn = s.db.NewTransaction(true)
			if werr := writeChange(txn, c); werr != nil {
				return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, e.Index, werr)
			}
		}
		pending, pendingIdx = append(pending, c), append(pendingIdx, e.Index)
		last = e.Index
		s.mu.Lock()
		s.v.apply(c)
		s.v.applied = e.Index
		s.mu.Unlock()
	}
	if txn == nil {
		return errs, nil
	}
	cerr := txn.Set([]byte(keyApplied), be64(last))
	if errors.Is(cerr, badger.ErrTxnTooBig) {
		// The applied index did not fit: commit the changes apart.
		txn.Discard()
		txn = nil
		cerr = commit(pending, pendingIdx)
	} else if cerr == nil {
		cerr = txn.Commit()
	}
	if cerr != nil {
		return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, last, cerr)
	}
	s.applied.Store(last)
	return errs, nil
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

// commit writes cs and the applied index in one synced transaction.
func (s *Store) commit(index uint64, cs ...change) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	for _, c := range cs {
		if err := writeChange(txn, c); err != nil {
			return err
		}
	}
	if err := txn.Set([]byte(keyApplied), be64(index)); err != nil {
		return err
	}
	return txn.Commit()
}

// writeChange adds c's writes to txn.
func writeChange(txn *badger.Txn, c change) error {
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
	return nil
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
