package keystore

import (
	"encoding/json"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Signed tree heads and the signing key of the audit log, stored as the
// server gives them (see auditlog.go for the layout).

// AppendLogHead stores head as signed tree head number seq, the effect of
// log entry index. A head whose seq is not the number of heads stored is
// refused with ErrAlreadyExists (another head took its place) or
// ErrInvalidMutation, and only the applied index advances.
func (s *Store) AppendLogHead(index, seq uint64, head []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index <= s.applied.Load() {
		return nil
	}
	var domainErr error
	switch n := s.v.headCount; {
	case seq < n:
		domainErr = fmt.Errorf("%w: tree head %d", ErrAlreadyExists, seq)
	case seq > n:
		domainErr = fmt.Errorf("%w: tree head %d of %d", ErrInvalidMutation, seq, n)
	case len(head) == 0 || len(head) > MaxLogHead:
		domainErr = fmt.Errorf("%w: tree head of %d bytes", ErrInvalidMutation, len(head))
	}
	err := s.commitWith(index, func(txn *badger.Txn) error {
		if domainErr != nil {
			return nil
		}
		return txn.Set(append([]byte(prefixLogHead), be64(seq)...), head)
	})
	if err != nil {
		return fmt.Errorf("%w: apply index %d: %w", ErrStorage, index, err)
	}
	s.mu.Lock()
	if domainErr == nil {
		s.v.headCount++
	}
	s.v.applied = index
	s.mu.Unlock()
	s.applied.Store(index)
	return domainErr
}

// SetLogKey stores the audit log's signing key, the effect of log entry
// index. The first key stored stays: a later one gets ErrAlreadyExists.
func (s *Store) SetLogKey(index uint64, k LogKey) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index <= s.applied.Load() {
		return nil
	}
	var domainErr error
	if s.v.logKey != nil {
		domainErr = fmt.Errorf("%w: audit signing key", ErrAlreadyExists)
	} else if len(k.WrappedSeed) == 0 || len(k.PublicKey) == 0 {
		domainErr = fmt.Errorf("%w: empty audit signing key", ErrInvalidMutation)
	}
	b, err := json.Marshal(k)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMutation, err)
	}
	err = s.commitWith(index, func(txn *badger.Txn) error {
		if domainErr != nil {
			return nil
		}
		return txn.Set([]byte(keyLogKey), b)
	})
	if err != nil {
		return fmt.Errorf("%w: apply index %d: %w", ErrStorage, index, err)
	}
	s.mu.Lock()
	if domainErr == nil {
		s.v.logKey = &k
	}
	s.v.applied = index
	s.mu.Unlock()
	s.applied.Store(index)
	return domainErr
}

// LogHeadCount returns the number of signed tree heads stored.
func (s *Store) LogHeadCount() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.v.headCount
}

// GetLogKey returns the audit log's signing key, if one is stored.
func (s *Store) GetLogKey() (LogKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.v.logKey == nil {
		return LogKey{}, false
	}
	return *s.v.logKey, true
}

// LogHeads returns the signed tree heads with sequence numbers [lo, hi),
// clamped to those stored.
func (s *Store) LogHeads(lo, hi uint64) ([][]byte, error) {
	return s.rangeOf(prefixLogHead, lo, hi, s.LogHeadCount())
}
