package keystore

import (
	"fmt"
	"maps"

	badger "github.com/dgraph-io/badger/v4"
)

// The store keeps, for the cluster, the API address of every member that
// joined after the cluster started ("n/<node id>"), so that any member can
// reach the leader's API to forward to it.
const prefixMember = "n/"

// SetMember records the API address of member id, the effect of log entry
// index; an empty address removes the member's record.
func (s *Store) SetMember(index uint64, id, apiAddr string) error {
	if id == "" || len(id) > 256 || len(apiAddr) > 1024 {
		return fmt.Errorf("%w: member %q", ErrInvalidMutation, id)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if index <= s.applied.Load() {
		return nil
	}
	err := s.commitWith(index, func(txn *badger.Txn) error {
		if apiAddr == "" {
			return txn.Delete([]byte(prefixMember + id))
		}
		return txn.Set([]byte(prefixMember+id), []byte(apiAddr))
	})
	if err != nil {
		return fmt.Errorf("%w: apply index %d: %w", ErrStorage, index, err)
	}
	s.mu.Lock()
	s.v.members = maps.Clone(s.v.members)
	if s.v.members == nil {
		s.v.members = map[string]string{}
	}
	if apiAddr == "" {
		delete(s.v.members, id)
	} else {
		s.v.members[id] = apiAddr
	}
	s.v.applied = index
	s.mu.Unlock()
	s.applied.Store(index)
	return nil
}

// Members returns the API addresses recorded for members, by member id (a
// copy).
func (s *Store) Members() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return maps.Clone(s.v.members)
}

// MemberAPIAddr returns the API address recorded for member id.
func (s *Store) MemberAPIAddr(id string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.v.members[id]
	return a, ok
}
