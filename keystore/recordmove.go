package keystore

import (
	"os"
)

// Stores written before record files kept their audit records in the
// database, under l/<position>; opening one moves them to record files.

// openRecords opens the record files in dir, after moving into them the
// records a store written before them keeps in the database: copied to
// the files, which are synced, then the size recorded, then the records
// removed from the database. A move cut short by a crash is taken up
// where it stopped.
func (s *Store) openRecords(dir string) error {
	v := s.v
	if v.logInDB && !v.logSizeStored {
		if err := s.copyRecords(dir); err != nil {
			return err
		}
	}
	rf, err := openRecordFiles(dir, v.applied, v.logSize, v.logPruned)
	if err != nil {
		return err
	}
	s.rec = rf
	if n := rf.size(); n > v.logSize {
		// Frames of applied entries past the size the state recorded
		// were added behind the store's back: they are in the log (and
		// stay outside every signed head, for want of a MAC), so the
		// state says so, as snapshots and digests read it.
		if err := s.setLogSize(n); err != nil {
			return err
		}
	}
	if !v.logInDB {
		return nil
	}
	// The files hold every record: remove them from the database.
	for lo := v.logPruned; lo < v.logSize; {
		txn := s.db.NewTransaction(true)
		for n := 0; lo < v.logSize && n < MaxPruneBatch; lo, n = lo+1, n+1 {
			if err := txn.Delete(append([]byte(prefixLog), be64(lo)...)); err != nil {
				txn.Discard()
				return err
			}
		}
		err := txn.Commit()
		txn.Discard()
		if err != nil {
			return err
		}
	}
	v.logInDB = false
	s.log.Info("audit records moved from the database to record files", "records", v.logSize-v.logPruned)
	return nil
}

// copyRecords writes the records the database holds to new record files
// in dir, and then records the log's size.
func (s *Store) copyRecords(dir string) error {
	v := s.v
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	rf, err := openRecordFiles(dir, v.applied, 0, v.logPruned)
	if err != nil {
		return err
	}
	defer rf.close()
	for lo := v.logPruned; lo < v.logSize; lo += rebuildBatch {
		hi := min(lo+rebuildBatch, v.logSize)
		recs, err := s.rangeOf(prefixLog, lo, hi, hi)
		if err != nil {
			return err
		}
		// A position the database lacks gets an empty frame; at most
		// about 1 MiB of records is written at once.
		for i := 0; i < len(recs); {
			j, n := i, 0
			for j < len(recs) && (j == i || n+len(recs[j]) <= 1<<20) {
				n += len(recs[j])
				j++
			}
			if err := rf.append(lo+uint64(i), v.applied, recs[i:j]); err != nil {
				return err
			}
			i = j
		}
	}
	if err := rf.sync(); err != nil {
		return err
	}
	if err := s.setLogSize(v.logSize); err != nil {
		return err
	}
	v.logSizeStored = true
	return nil
}

// setLogSize records n as the log's size.
func (s *Store) setLogSize(n uint64) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set([]byte(keyLogSize), be64(n)); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	s.v.logSize = n
	return nil
}

// rebuildBatch is how many records a move or a snapshot reads at a time.
const rebuildBatch = 4096
