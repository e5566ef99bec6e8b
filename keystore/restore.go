package keystore

import (
	"fmt"
	"io"
)

// Restore replaces the whole state with the snapshot read from r, applied
// index included. The stream is read and verified (format, lengths,
// checksum, every record decodes) before anything changes: a bad snapshot
// returns ErrInvalidSnapshot and leaves the store as it was.
//
// The new records are written first and the applied index last, so a crash
// part-way leaves applied index 0 and the snapshot is restored again.
func (s *Store) Restore(r io.Reader) error {
	recs, err := readSnapshot(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
	}
	v := newView()
	var applied []byte
	for _, rec := range recs {
		if string(rec.key) == keyApplied {
			applied = rec.val
		}
		isLog, err := v.loadLog(string(rec.key), func() ([]byte, error) { return rec.val, nil })
		if err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
		}
		if isLog {
			continue
		}
		if err := v.load(string(rec.key), rec.val); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
		}
	}
	v.index()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.replace(recs, applied); err != nil {
		return fmt.Errorf("%w: restore: %w", ErrStorage, err)
	}
	s.mu.Lock()
	s.v = v
	s.mu.Unlock()
	s.applied.Store(v.applied)
	if s.obs.Reset != nil {
		s.obs.Reset()
	}
	return nil
}

// replace drops every record and writes recs, the applied index last.
func (s *Store) replace(recs []record, applied []byte) error {
	if err := s.db.DropAll(); err != nil {
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	for _, rec := range recs {
		if string(rec.key) == keyApplied {
			continue
		}
		if err := wb.Set(rec.key, rec.val); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	if applied == nil {
		return nil
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set([]byte(keyApplied), applied); err != nil {
		return err
	}
	return txn.Commit()
}
