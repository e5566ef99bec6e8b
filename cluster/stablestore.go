package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Set stores a stable value (raft's current term, last vote).
func (s *LogStore) Set(key, val []byte) error {
	release, ok := s.use()
	if !ok {
		return nil // see use
	}
	defer release()
	err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(stableKey(key), append([]byte(nil), val...))
	})
	if err != nil {
		return fmt.Errorf("cluster: set %q: %w", key, err)
	}
	return nil
}

// Get returns a stable value, or ErrKeyNotFound (whose text raft expects).
func (s *LogStore) Get(key []byte) ([]byte, error) {
	release, ok := s.use()
	if !ok {
		return nil, errStoreClosed
	}
	defer release()
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stableKey(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrKeyNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: get %q: %w", key, err)
	}
	return val, nil
}

// SetUint64 stores a stable value as 8 bytes, big-endian.
func (s *LogStore) SetUint64(key []byte, val uint64) error {
	return s.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 returns a value stored by SetUint64, or 0 and ErrKeyNotFound.
func (s *LogStore) GetUint64(key []byte) (uint64, error) {
	val, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(val) != 8 {
		return 0, fmt.Errorf("cluster: get %q: value of %d bytes, want 8", key, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}
