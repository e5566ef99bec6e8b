package keystore

import (
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Retention: the oldest audit records can be removed once archived; the
// log's positions do not change and the signed heads stay.

// LogPruned returns the position of the first record still held: the
// records before it were removed by PruneLog.
func (s *Store) LogPruned() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.v.logPruned
}

// PruneLog removes the records at positions [from, upTo), the effect of
// log entry index. It applies only if from is the first record still held
// and upTo is within the log, at most MaxPruneBatch records further;
// otherwise it returns ErrInvalidState (pruned already) or
// ErrInvalidMutation and only the applied index advances. The event-id
// index entries stay, so a pruned record's position can still be found.
func (s *Store) PruneLog(index, from, upTo uint64) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index <= s.applied.Load() {
		return nil
	}
	var domainErr error
	switch {
	case from != s.v.logPruned:
		domainErr = fmt.Errorf("%w: records before %d are pruned, not %d", ErrInvalidState, s.v.logPruned, from)
	case upTo <= from || upTo > s.v.logSize || upTo-from > MaxPruneBatch:
		domainErr = fmt.Errorf("%w: prune %d..%d of a log of %d", ErrInvalidMutation, from, upTo, s.v.logSize)
	}
	err := s.commitWith(index, func(txn *badger.Txn) error {
		if domainErr != nil {
			return nil
		}
		for pos := from; pos < upTo; pos++ {
			if err := txn.Delete(append([]byte(prefixLogMAC), be64(pos)...)); err != nil {
				return err
			}
		}
		return txn.Set([]byte(keyLogPruned), be64(upTo))
	})
	if err != nil {
		return fmt.Errorf("%w: apply index %d: %w", ErrStorage, index, err)
	}
	s.mu.Lock()
	if domainErr == nil {
		s.v.logPruned = upTo
	}
	s.v.applied = index
	s.mu.Unlock()
	if domainErr == nil {
		// The record files wholly before upTo go, now that readers are
		// refused them. Should that fail, they go when the store next
		// opens.
		if err := s.rec.prune(upTo); err != nil {
			s.log.Warn("keystore: pruned audit record files not removed", "err", err)
		}
	}
	s.applied.Store(index)
	return domainErr
}
