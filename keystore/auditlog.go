package keystore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// The audit log is kept with the keys: its records in files of their own
// (records.go), everything else in the same database as the keys, so that
// one synced transaction commits a log entry's effect together with the
// applied index, and snapshots carry the log to new members. The store
// treats records and heads as opaque bytes; package audit gives them
// meaning.
//
//	l/<position, 8 bytes big-endian>  record: in snapshots, and in stores
//	                                  written before record files (moved
//	                                  to them when the store opens)
//	lm/<position>                     the record's MAC, from its proposer
//	le/<eventID>                      position of the record, 8 bytes
//	lh/<sequence, 8 bytes>            signed tree head
//	m/logkey                          the signing key (LogKey, JSON)
//	m/logpruned                       records before this were pruned
//	m/logsize                         records written (8 bytes)
const (
	prefixLog     = "l/"
	prefixLogID   = "le/"
	prefixLogMAC  = "lm/"
	prefixLogHead = "lh/"
	keyLogKey     = "m/logkey"
	keyLogPruned  = "m/logpruned"
	keyLogSize    = "m/logsize"

	// MaxPruneBatch bounds the records one PruneLog removes (two keys
	// each, in one transaction).
	MaxPruneBatch = 4096

	// MaxLogRecord bounds one stored record; MaxLogBatch the records of
	// one log entry, and MaxLogBatchBytes their size (Badger refuses larger
	// transactions).
	MaxLogRecord     = 256 << 10
	MaxLogHead       = 512 << 10
	MaxLogBatch      = 4096
	MaxLogBatchBytes = 768 << 10
)

// LogKey is the audit log's signing key: the private part wrapped under
// the root key, and the public part.
type LogKey struct {
	WrappedSeed []byte `json:"wrappedSeed"`
	PublicKey   []byte `json:"publicKey"`
}

// LogObserver learns, in log order and while no other write can happen,
// of every change to the audit log, so that it can keep derived state
// (a Merkle tree, tail subscribers) in step. It must not call back into the
// store's write methods.
type LogObserver struct {
	// Appended reports records [first, first+len(records)).
	Appended func(first uint64, records [][]byte)
	// Reset reports that Restore replaced the whole state: derived state
	// must be rebuilt from LogRecords.
	Reset func()
}

// SetLogObserver installs o. Call it before the first Apply.
func (s *Store) SetLogObserver(o LogObserver) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.obs = o
}

// AppendLog appends records, whose event ids are ids, to the audit log as
// the effect of log entry index, and returns the position of the first
// one. An entry at or below the applied index was applied already: AppendLog
// then returns applied == false and does nothing.
func (s *Store) AppendLog(index uint64, records [][]byte, ids []string, macs ...[]byte) (first uint64, applied bool, err error) {
	res, err := s.AppendLogs([]LogAppend{{Index: index, Records: records, IDs: ids, MACs: macs}})
	if err != nil {
		return 0, false, err
	}
	return res[0].First, res[0].Applied, res[0].Err
}

// LogAppend is one log entry's batch of audit records.
type LogAppend struct {
	Index   uint64
	Records [][]byte
	IDs     []string
	// MACs, if any, are stored with the records (one each), opaque.
	MACs [][]byte
}

// LogAppended is the outcome of one LogAppend: the position of its first
// record, whether it was applied now (false: it was applied before), or
// the ErrInvalidMutation that refused it.
type LogAppended struct {
	First   uint64
	Applied bool
	Err     error
}

// maxLogTxnBytes bounds one transaction of AppendLogs; Badger refuses
// transactions above a fraction of its memtable.
const maxLogTxnBytes = 1 << 20

// AppendLogs appends the records of consecutive log entries, in as few
// synced transactions as Badger allows (usually one), each recording the
// applied index of its last entry. It is AppendLog for many entries at
// once, so that a burst of audit batches costs one fsync, not one each.
func (s *Store) AppendLogs(entries []LogAppend) ([]LogAppended, error) {
	out := make([]LogAppended, len(entries))
	for i, e := range entries {
		out[i].Err = checkLogAppend(e)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	size := s.v.logSize
	var txn *badger.Txn
	var txnBytes int
	var lastIndex uint64
	var inTxn []int  // the entries of txn
	txnFirst := size // the first record txn writes
	flush := func() error {
		if txn == nil {
			return nil
		}
		defer txn.Discard()
		// The records are durable before the state says they are there.
		err := s.rec.sync()
		if err == nil {
			err = txn.Set([]byte(keyLogSize), be64(size))
		}
		if err == nil {
			err = txn.Set([]byte(keyApplied), be64(lastIndex))
		}
		if err != nil {
			if rerr := s.rec.rollback(txnFirst); rerr != nil {
				return errors.Join(err, rerr)
			}
			return err
		}
		if err := txn.Commit(); err != nil {
			// The commit may yet reach the disk (Badger writes its log
			// before it syncs it): the records stay. Opening the store
			// cuts them off if it did not.
			return err
		}
		s.mu.Lock()
		s.v.logSize = size
		s.v.applied = lastIndex
		s.mu.Unlock()
		// The observer learns of the records before the applied index
		// says they are there: a reader that waited for the index
		// finds them in what the observer keeps too.
		if s.obs.Appended != nil {
			for _, i := range inTxn {
				if out[i].Applied {
					s.obs.Appended(out[i].First, entries[i].Records)
				}
			}
		}
		s.applied.Store(lastIndex)
		txn, txnBytes, inTxn, txnFirst = nil, 0, inTxn[:0], size
		return nil
	}
	fail := func(index uint64, err error) ([]LogAppended, error) {
		txn.Discard()
		if rerr := s.rec.rollback(txnFirst); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, index, err)
	}
	for i, e := range entries {
		if e.Index <= s.applied.Load() || (txn != nil && e.Index <= lastIndex) {
			continue
		}
		n := logAppendBytes(e)
		if txn != nil && txnBytes+n > maxLogTxnBytes {
			if err := flush(); err != nil {
				return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, lastIndex, err)
			}
		}
		if txn == nil {
			txn = s.db.NewTransaction(true)
		}
		lastIndex, txnBytes = e.Index, txnBytes+n
		inTxn = append(inTxn, i)
		if out[i].Err != nil {
			continue // refused: only the applied index advances
		}
		out[i].First, out[i].Applied = size, true
		if err := s.rec.append(size, e.Index, e.Records); err != nil {
			return fail(e.Index, err)
		}
		for j := range e.Records {
			pos := be64(size + uint64(j))
			if e.IDs[j] != "" {
				if err := txn.Set([]byte(prefixLogID+e.IDs[j]), pos); err != nil {
					return fail(e.Index, err)
				}
			}
			if len(e.MACs) > 0 {
				if err := txn.Set(append([]byte(prefixLogMAC), pos...), e.MACs[j]); err != nil {
					return fail(e.Index, err)
				}
			}
		}
		size += uint64(len(e.Records))
	}
	if err := flush(); err != nil {
		return nil, fmt.Errorf("%w: apply index %d: %w", ErrStorage, lastIndex, err)
	}
	return out, nil
}

// CheckLogAppend returns the ErrInvalidMutation that AppendLogs would
// answer e with, or nil: a proposer checks a batch before proposing it.
func CheckLogAppend(e LogAppend) error { return checkLogAppend(e) }

func checkLogAppend(e LogAppend) error {
	if len(e.Records) != len(e.IDs) || len(e.Records) > MaxLogBatch || (len(e.MACs) > 0 && len(e.MACs) != len(e.Records)) {
		return fmt.Errorf("%w: %d records, %d ids, %d MACs", ErrInvalidMutation, len(e.Records), len(e.IDs), len(e.MACs))
	}
	for _, m := range e.MACs {
		if len(m) == 0 || len(m) > 64 {
			return fmt.Errorf("%w: MAC of %d bytes", ErrInvalidMutation, len(m))
		}
	}
	for _, r := range e.Records {
		if len(r) == 0 || len(r) > MaxLogRecord {
			return fmt.Errorf("%w: record of %d bytes", ErrInvalidMutation, len(r))
		}
	}
	if n := logAppendBytes(e); n > MaxLogBatchBytes {
		return fmt.Errorf("%w: batch of %d bytes", ErrInvalidMutation, n)
	}
	return nil
}

func logAppendBytes(e LogAppend) int {
	n := 64
	for _, r := range e.Records {
		n += len(r) + 2*len(prefixLogID) + 32
	}
	for _, id := range e.IDs {
		n += len(id)
	}
	for _, m := range e.MACs {
		n += len(m) + 16
	}
	return n
}

// commitWith runs write and records the applied index in one synced
// transaction.
func (s *Store) commitWith(index uint64, write func(*badger.Txn) error) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := write(txn); err != nil {
		return err
	}
	if err := txn.Set([]byte(keyApplied), be64(index)); err != nil {
		return err
	}
	return txn.Commit()
}

// LogSize returns the number of audit records stored.
func (s *Store) LogSize() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.v.logSize
}

// LogRecords returns the records at positions [lo, hi), clamped to the log
// and to the records not pruned (lo below LogPruned is an error). A record
// missing from the database (removed behind the store's back) comes back
// empty, so that verification names it instead of failing to read the log.
func (s *Store) LogRecords(lo, hi uint64) ([][]byte, error) {
	s.mu.RLock()
	size, pruned := s.v.logSize, s.v.logPruned
	s.mu.RUnlock()
	if lo < pruned && lo < hi && lo < size {
		return nil, fmt.Errorf("%w: records before %d were pruned", ErrNotFound, pruned)
	}
	recs, err := s.rec.read(lo, min(hi, size))
	if errors.Is(err, errPrunedRecords) {
		return nil, fmt.Errorf("%w: records before %d were pruned", ErrNotFound, s.LogPruned())
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return recs, nil
}

// LogMACs returns the MACs stored with the records at positions [lo, hi),
// clamped to the log; a record stored without one gets an empty MAC.
func (s *Store) LogMACs(lo, hi uint64) ([][]byte, error) {
	return s.rangeOf(prefixLogMAC, lo, hi, s.LogSize())
}

// LogPosition returns the position of the record with event id id.
func (s *Store) LogPosition(id string) (uint64, bool, error) {
	var pos uint64
	var found bool
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(prefixLogID + id))
		if err == badger.ErrKeyNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("record %q: bad length %d", prefixLogID+id, len(v))
			}
			pos, found = binary.BigEndian.Uint64(v), true
			return nil
		})
	})
	if err != nil {
		return 0, false, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	return pos, found, nil
}

// rangeOf reads the values of prefix/<n> for n in [lo, min(hi, size)).
func (s *Store) rangeOf(prefix string, lo, hi, size uint64) ([][]byte, error) {
	hi = min(hi, size)
	if lo >= hi {
		return nil, nil
	}
	out := make([][]byte, hi-lo)
	err := s.db.View(func(txn *badger.Txn) error {
		opts := badger.DefaultIteratorOptions
		opts.Prefix = []byte(prefix)
		opts.PrefetchSize = int(min(hi-lo, 100))
		it := txn.NewIterator(opts)
		defer it.Close()
		end := append([]byte(prefix), be64(hi)...)
		for it.Seek(append([]byte(prefix), be64(lo)...)); it.Valid(); it.Next() {
			item := it.Item()
			if bytes.Compare(item.Key(), end) >= 0 {
				break
			}
			k := item.Key()[len(prefix):]
			if len(k) != 8 {
				continue // not a record of this sequence
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			out[binary.BigEndian.Uint64(k)-lo] = v
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStorage, err)
	}
	for i := range out {
		if out[i] == nil {
			out[i] = []byte{}
		}
	}
	return out, nil
}

// loadLog accounts for one audit log record found by Open or Restore. It
// reports whether key belongs to the audit log.
func (v *view) loadLog(key string, val func() ([]byte, error)) (bool, error) {
	// Sizes come from the last position found, not from a count, so that a
	// record or head removed behind the store's back leaves a gap that
	// verification reports, instead of shifting every later one.
	switch {
	case strings.HasPrefix(key, prefixLog):
		if pos, ok := seqOf(key, prefixLog); ok {
			v.logSize = max(v.logSize, pos+1)
			v.logInDB = true
		}
	case key == keyLogSize:
		n, err := uint64Value(key, val)
		if err != nil {
			return true, err
		}
		v.logSize = max(v.logSize, n)
		v.logSizeStored = true
	case strings.HasPrefix(key, prefixLogHead):
		if seq, ok := seqOf(key, prefixLogHead); ok {
			v.headCount = max(v.headCount, seq+1)
		}
	case strings.HasPrefix(key, prefixLogID), strings.HasPrefix(key, prefixLogMAC):
	case key == keyLogPruned:
		n, err := uint64Value(key, val)
		if err != nil {
			return true, err
		}
		v.logPruned = n
		v.logSize = max(v.logSize, v.logPruned)
	case key == keyLogKey:
		b, err := val()
		if err != nil {
			return true, err
		}
		k := new(LogKey)
		if err := json.Unmarshal(b, k); err != nil {
			return true, fmt.Errorf("record %q: %w", key, err)
		}
		v.logKey = k
	default:
		return false, nil
	}
	return true, nil
}

// uint64Value decodes the 8-byte big-endian value of key.
func uint64Value(key string, val func() ([]byte, error)) (uint64, error) {
	b, err := val()
	if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("record %q: bad length %d", key, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// recordKey returns the position of the record whose key is key, if it is
// one (l/<position>).
func recordKey(key []byte) (uint64, bool) {
	if !strings.HasPrefix(string(key), prefixLog) {
		return 0, false
	}
	return seqOf(string(key), prefixLog)
}

// seqOf decodes the 8-byte big-endian number after prefix in key.
func seqOf(key, prefix string) (uint64, bool) {
	k := key[len(prefix):]
	if len(k) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64([]byte(k)), true
}
