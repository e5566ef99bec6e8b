package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// Badger key prefixes: log entries under 'l' + index (big-endian, so key
// order is index order), stable values under 's' + key.
const (
	prefixLog    = 'l'
	prefixStable = 's'
)

// LogStore is raft's log and stable store in one Badger database of its
// own. Every write is fsynced before it returns.
type LogStore struct {
	db *badger.DB
	// wmu serializes StoreLogs and DeleteRange, which update first and last.
	wmu         sync.Mutex
	first, last atomic.Uint64
	// storedEntries and storedBytes count what StoreLogs wrote since the
	// store was opened (snapshot pacing).
	storedEntries, storedBytes atomic.Uint64
	// cmu lets Close wait for the operations in progress; after it, see
	// use.
	cmu    sync.RWMutex
	closed bool
}

// errStoreClosed is returned by operations after Close.
var errStoreClosed = errors.New("cluster: log store closed")

// use holds off Close until release is called; ok is false once the store
// is closed. Raft's transport can still hand a heartbeat to a node that is
// shutting down, and raft panics if it cannot record a newer term: after
// Close, Set does nothing (the node no longer takes part, and a heartbeat
// never grants a vote), reads find nothing and log writes fail.
func (s *LogStore) use() (release func(), ok bool) {
	s.cmu.RLock()
	if s.closed {
		s.cmu.RUnlock()
		return nil, false
	}
	return s.cmu.RUnlock, true
}

var (
	_ raft.LogStore    = (*LogStore)(nil)
	_ raft.StableStore = (*LogStore)(nil)
)

// OpenLogStore opens (or creates) a log store in dir.
func OpenLogStore(dir string, log *slog.Logger) (*LogStore, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db, err := badger.Open(badgerOptions(dir, log))
	if err != nil {
		return nil, fmt.Errorf("cluster: open log store %s: %w", dir, err)
	}
	s := &LogStore{db: db}
	if err := s.loadBounds(); err != nil {
		db.Close()
		return nil, fmt.Errorf("cluster: open log store %s: %w", dir, err)
	}
	return s, nil
}

// SyncWrites reports whether every write is fsynced before it returns
// (always true; it exists so tests can check).
func (s *LogStore) SyncWrites() bool { return s.db.Opts().SyncWrites }

// Close waits for the operations in progress and closes the database.
func (s *LogStore) Close() error {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}

// stored returns the number of entries and bytes StoreLogs wrote since the
// store was opened.
func (s *LogStore) stored() (entries, bytes uint64) {
	return s.storedEntries.Load(), s.storedBytes.Load()
}

// tailSize returns the number of the last n entries (fewer if the log is
// shorter) and their size as stored.
func (s *LogStore) tailSize(n uint64) (entries, bytes uint64) {
	release, ok := s.use()
	if !ok {
		return 0, 0
	}
	defer release()
	first, last := s.first.Load(), s.last.Load()
	if last == 0 {
		return 0, 0
	}
	from := max(first, last-min(last, n)+1)
	s.db.View(func(txn *badger.Txn) error {
		for i := from; i <= last; i++ {
			if item, err := txn.Get(logKey(i)); err == nil {
				entries++
				bytes += uint64(item.ValueSize())
			}
		}
		return nil
	})
	return entries, bytes
}

// FirstIndex returns the first index written, 0 for no entries.
func (s *LogStore) FirstIndex() (uint64, error) { return s.first.Load(), nil }

// LastIndex returns the last index written, 0 for no entries.
func (s *LogStore) LastIndex() (uint64, error) { return s.last.Load(), nil }

// GetLog gets the entry at index, or raft.ErrLogNotFound.
func (s *LogStore) GetLog(index uint64, out *raft.Log) error {
	release, ok := s.use()
	if !ok {
		return raft.ErrLogNotFound
	}
	defer release()
	return s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(logKey(index))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return raft.ErrLogNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error { return decodeLog(index, b, out) })
	})
}

// StoreLog stores one entry.
func (s *LogStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs stores entries in one synced transaction (several, in order,
// if they do not fit in one: a crash then keeps a prefix of them).
func (s *LogStore) StoreLogs(logs []*raft.Log) (err error) {
	release, ok := s.use()
	if !ok {
		return errStoreClosed
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	defer func() {
		if err != nil { // a prefix may have been committed
			s.loadBounds()
		}
	}()
	txn := s.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	var size int
	for _, l := range logs {
		key, val := logKey(l.Index), encodeLog(l)
		size += len(val)
		err := txn.Set(key, val)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err = txn.Commit(); err != nil {
				return fmt.Errorf("cluster: store logs: %w", err)
			}
			txn = s.db.NewTransaction(true)
			err = txn.Set(key, val)
		}
		if err != nil {
			return fmt.Errorf("cluster: store log %d: %w", l.Index, err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("cluster: store logs: %w", err)
	}
	// Bytes first: the pacer reads the entries first, so it never sees
	// entries without their bytes.
	s.storedBytes.Add(uint64(size))
	s.storedEntries.Add(uint64(len(logs)))
	for _, l := range logs {
		s.first.CompareAndSwap(0, l.Index)
		if l.Index > s.last.Load() {
			s.last.Store(l.Index)
		}
	}
	return nil
}

// DeleteRange deletes the entries from min to max, both included.
func (s *LogStore) DeleteRange(min, max uint64) error {
	release, ok := s.use()
	if !ok {
		return errStoreClosed
	}
	defer release()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	keys, err := s.logKeys(min, max)
	if err != nil {
		return fmt.Errorf("cluster: delete logs %d-%d: %w", min, max, err)
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, k := range keys {
		if err := wb.Delete(k); err != nil {
			return fmt.Errorf("cluster: delete logs %d-%d: %w", min, max, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("cluster: delete logs %d-%d: %w", min, max, err)
	}
	return s.loadBounds()
}

// logKeys returns the keys of the entries from min to max.
func (s *LogStore) logKeys(min, max uint64) ([][]byte, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.IteratorOptions{Prefix: []byte{prefixLog}}
		it := txn.NewIterator(opts)
		defer it.Close()
		end := logKey(max)
		for it.Seek(logKey(min)); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if string(k) > string(end) {
				break
			}
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}

// loadBounds reads the first and last index from the database.
func (s *LogStore) loadBounds() error {
	return s.db.View(func(txn *badger.Txn) error {
		first, err := edgeIndex(txn, false)
		if err != nil {
			return err
		}
		last, err := edgeIndex(txn, true)
		s.first.Store(first)
		s.last.Store(last)
		return err
	})
}

// edgeIndex returns the lowest (or highest) index stored, 0 if none.
func edgeIndex(txn *badger.Txn, last bool) (uint64, error) {
	opts := badger.IteratorOptions{Prefix: []byte{prefixLog}, Reverse: last}
	it := txn.NewIterator(opts)
	defer it.Close()
	seek := logKey(0)
	if last {
		seek = logKey(^uint64(0))
	}
	it.Seek(seek)
	if !it.Valid() {
		return 0, nil
	}
	k := it.Item().Key()
	if len(k) != 9 {
		return 0, fmt.Errorf("bad log key %x", k)
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

func logKey(index uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixLog}, index)
}

func stableKey(k []byte) []byte {
	return append([]byte{prefixStable}, k...)
}
