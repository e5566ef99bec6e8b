package keystore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// Restore replaces the whole state with the snapshot read from r, applied
// index included. The stream is read and verified (format, lengths,
// checksum, every record decodes) before anything changes: a bad snapshot
// returns ErrInvalidSnapshot and leaves the store as it was.
//
// Memory stays bounded however large the snapshot (the audit log can make
// it large): while it is verified the stream is copied to a file next to
// the store, and the records are written from that file, in batches.
// Only the keys and aliases, which the store holds in memory anyway, are
// decoded. The new records are written first and the applied index last,
// so a crash part-way leaves applied index 0 and the snapshot is restored
// again.
func (s *Store) Restore(r io.Reader) error {
	spool, err := os.CreateTemp(s.dir, "restore-*.snap")
	if err != nil {
		return fmt.Errorf("%w: restore: %w", ErrStorage, err)
	}
	defer os.Remove(spool.Name())
	defer spool.Close()

	v := newView()
	var applied []byte
	var firstRecord, nextRecord uint64 // of the records seen, in order
	records := false
	err = scanSnapshot(io.TeeReader(r, spool), func(key, val []byte) error {
		if string(key) == keyApplied {
			applied = bytes.Clone(val)
		}
		if pos, ok := recordKey(key); ok {
			// Checked now, before anything changes: a record the
			// record files would not take.
			switch {
			case records && pos < nextRecord:
				return fmt.Errorf("record %d after %d", pos, nextRecord-1)
			case records && pos-nextRecord > maxRecordGap:
				return fmt.Errorf("record %d after %d", pos, nextRecord-1)
			case len(val) == 0 || len(val) > MaxLogRecord:
				return fmt.Errorf("record %d of %d bytes", pos, len(val))
			}
			if !records {
				firstRecord, records = pos, true
			}
			nextRecord = pos + 1
		}
		isLog, err := v.loadLog(string(key), func() ([]byte, error) { return val, nil })
		if err != nil || isLog {
			return err
		}
		return v.load(string(key), val)
	})
	switch {
	case err != nil:
	case records && firstRecord < v.logPruned:
		err = fmt.Errorf("record %d, but records before %d were pruned", firstRecord, v.logPruned)
	case records && (firstRecord-v.logPruned > maxRecordGap || v.logSize-nextRecord > maxRecordGap),
		!records && v.logSize-v.logPruned > maxRecordGap:
		err = fmt.Errorf("records %d to %d, a log of %d pruned before %d", firstRecord, nextRecord, v.logSize, v.logPruned)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
	}
	v.index()
	size, err := spool.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("%w: restore: %w", ErrStorage, err)
	}
	if s.room != nil {
		// The new state takes about what the spool does, written twice
		// (Badger's log, then its tables) before the old state's files go.
		if err := s.room(2 * uint64(size)); err != nil {
			return fmt.Errorf("%w: restore: %w", ErrStorage, err)
		}
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%w: restore: %w", ErrStorage, err)
	}

	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.replace(spool, applied, v); err != nil {
		return fmt.Errorf("%w: restore: %w", ErrStorage, err)
	}
	v.logInDB = false // its records went to the record files
	s.mu.Lock()
	s.v = v
	s.mu.Unlock()
	s.applied.Store(v.applied)
	if s.obs.Reset != nil {
		s.obs.Reset()
	}
	return nil
}

// replace drops every record and writes those of the verified snapshot in
// spool, the applied index last.
func (s *Store) replace(spool io.Reader, applied []byte, v *view) error {
	if err := s.db.DropAll(); err != nil {
		return err
	}
	if err := s.rec.reset(v.logPruned); err != nil {
		return err
	}
	// The records go to the record files, as the effect of the
	// snapshot's applied index, in runs of consecutive positions.
	var index uint64
	if len(applied) == 8 {
		index = binary.BigEndian.Uint64(applied)
	}
	var run [][]byte
	var runFirst uint64
	runBytes := 0
	flushRun := func() error {
		if len(run) == 0 {
			return nil
		}
		err := s.rec.append(runFirst, index, run)
		run, runBytes = run[:0], 0
		return err
	}
	wb := s.db.NewWriteBatch()
	defer wb.Cancel()
	err := scanSnapshot(spool, func(key, val []byte) error {
		if pos, ok := recordKey(key); ok {
			if len(run) > 0 && (pos != runFirst+uint64(len(run)) || runBytes > 1<<20) {
				if err := flushRun(); err != nil {
					return err
				}
			}
			if len(run) == 0 {
				runFirst = pos
			}
			run, runBytes = append(run, val), runBytes+len(val)
			return nil
		}
		if string(key) == keyApplied || string(key) == keyLogSize {
			return nil
		}
		return wb.Set(key, val)
	})
	if err == nil {
		err = flushRun()
	}
	if err == nil && s.rec.size() < v.logSize {
		// The last positions have no record (removed behind the
		// snapshot's store's back): empty frames, so the files reach
		// the size the state records.
		err = s.rec.append(v.logSize, index, nil)
	}
	if err == nil {
		err = s.rec.sync()
	}
	if err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	// The size goes with the applied index: until both are there, the
	// record files' frames count as never applied, and a store opened
	// after a crash here is empty, to be restored again.
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set([]byte(keyLogSize), be64(v.logSize)); err != nil {
		return err
	}
	if applied != nil {
		if err := txn.Set([]byte(keyApplied), applied); err != nil {
			return err
		}
	}
	return txn.Commit()
}

// ReindexSnapshot copies the snapshot stream r to w with its applied index
// set to index, and returns the number of bytes written. r is verified as
// Restore verifies it — format, lengths, checksum, every record decodes —
// and must hold an applied index. On an error w may have received part of
// a stream, which Restore would refuse.
//
// A backup restored into a running cluster is installed at a Raft index
// above every entry its members applied before; its state must say so,
// or a member that had applied more before the restore would take its
// old state for newer than the restored one.
//
// The stream holds members (member id → API address, as Store.Members
// returns them) in place of r's: the cluster that installs it keeps its
// own membership. The size written is therefore not r's; a dry run to
// io.Discard with the same members gives it.
func ReindexSnapshot(w io.Writer, r io.Reader, index uint64, members map[string]string) (int64, error) {
	if index == 0 {
		return 0, fmt.Errorf("%w: reindex to 0", ErrInvalidSnapshot)
	}
	cw := &countWriter{w: w}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(cw, h), 64<<10)
	bw.WriteString(snapMagic)
	bw.Write(binary.BigEndian.AppendUint32(nil, snapVersion))
	v := newView()
	found := false
	err := scanSnapshot(r, func(key, val []byte) error {
		if strings.HasPrefix(string(key), prefixMember) {
			return nil
		}
		if string(key) == keyApplied {
			if len(val) != 8 {
				return errors.New("bad applied index")
			}
			val, found = be64(index), true
		}
		writeField(bw, key)
		writeField(bw, val)
		isLog, err := v.loadLog(string(key), func() ([]byte, error) { return val, nil })
		if err != nil || isLog {
			return err
		}
		return v.load(string(key), val)
	})
	if err == nil && !found {
		err = errors.New("no applied index")
	}
	if err != nil {
		return cw.n, fmt.Errorf("%w: %w", ErrInvalidSnapshot, err)
	}
	for _, id := range slices.Sorted(maps.Keys(members)) {
		writeField(bw, []byte(prefixMember+id))
		writeField(bw, []byte(members[id]))
	}
	bw.Write(make([]byte, 4))
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	_, err = cw.Write(h.Sum(nil))
	return cw.n, err
}
