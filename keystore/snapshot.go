package keystore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	badger "github.com/dgraph-io/badger/v4"
)

// Snapshot stream format, version 1:
//
//	magic "KMSDSNAP" (8 bytes) || version (uint32, big-endian)
//	records: key length (uint32) || key || value length (uint32) || value
//	end: a key length of 0
//	SHA-256 of every byte before it (32 bytes)
//
// The records are the store's Badger records in key order, the applied
// index among them, and the audit records, kept in files of their own, in
// their place in that order: l/<position> (8 bytes, big-endian) → record.
const (
	snapMagic    = "KMSDSNAP"
	snapVersion  = 1
	maxSnapKey   = 1 << 12
	maxSnapValue = 1 << 26
)

// Snapshot is a point-in-time view of the store, pinned by a read-only
// Badger transaction. Release it when done.
type Snapshot struct {
	txn  *badger.Txn
	recs segments // the record files, held open
}

// Snapshot returns a snapshot of the current state, applied index
// included. It is fast: the IO happens in WriteTo.
func (s *Store) Snapshot() (*Snapshot, error) {
	// The transaction says which records there are; the record files
	// hold them, and go on holding them for WriteTo, open here, however
	// the store is appended to or pruned meanwhile. No writer runs
	// between the two.
	s.wmu.Lock()
	defer s.wmu.Unlock()
	recs, err := s.rec.hold()
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrStorage, err)
	}
	return &Snapshot{txn: s.db.NewTransaction(false), recs: recs}, nil
}

// AppliedIndex returns the index of the last entry applied to the state
// the snapshot holds.
func (sn *Snapshot) AppliedIndex() (uint64, error) {
	return sn.uint64At(keyApplied)
}

// Release ends the snapshot's transaction. WriteTo must not be called
// afterwards.
func (sn *Snapshot) Release() {
	sn.txn.Discard()
	release(sn.recs)
}

// WriteTo streams the snapshot to w in the format Restore reads.
func (sn *Snapshot) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(cw, h), 64<<10)
	bw.WriteString(snapMagic)
	bw.Write(binary.BigEndian.AppendUint32(nil, snapVersion))
	pruned, err := sn.uint64At(keyLogPruned)
	if err != nil {
		return cw.n, err
	}
	size, err := sn.uint64At(keyLogSize)
	if err != nil {
		return cw.n, err
	}
	recordsDone := false
	records := func() error {
		recordsDone = true
		if size > sn.recs.next {
			return fmt.Errorf("keystore: snapshot: %d records, the files hold %d", size, sn.recs.next)
		}
		for lo := pruned; lo < size; lo += rebuildBatch {
			recs, err := sn.recs.read(lo, min(lo+rebuildBatch, size))
			if err != nil {
				return fmt.Errorf("keystore: snapshot: %w", err)
			}
			for i, r := range recs {
				if len(r) > 0 {
					writeField(bw, append([]byte(prefixLog), be64(lo+uint64(i))...))
					writeField(bw, r)
				}
			}
		}
		return nil
	}
	it := sn.txn.NewIterator(badger.DefaultIteratorOptions)
	defer it.Close()
	var buf []byte
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		if !recordsDone && bytes.Compare(item.Key(), []byte(afterRecords)) >= 0 {
			if err := records(); err != nil {
				return cw.n, err
			}
		}
		val, err := item.ValueCopy(buf)
		if err != nil {
			return cw.n, fmt.Errorf("keystore: snapshot: %w", err)
		}
		buf = val
		writeField(bw, item.Key())
		writeField(bw, val)
	}
	if !recordsDone {
		if err := records(); err != nil {
			return cw.n, err
		}
	}
	bw.Write(make([]byte, 4))
	if err := bw.Flush(); err != nil {
		return cw.n, fmt.Errorf("keystore: snapshot: %w", err)
	}
	if _, err := cw.Write(h.Sum(nil)); err != nil {
		return cw.n, fmt.Errorf("keystore: snapshot: %w", err)
	}
	return cw.n, nil
}

// afterRecords is the least key after every l/<position>: the records go
// before it in a snapshot.
const afterRecords = "l0"

// uint64At reads an 8-byte value of the snapshot's state; 0 if absent.
func (sn *Snapshot) uint64At(key string) (uint64, error) {
	item, err := sn.txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("keystore: snapshot: %w", err)
	}
	v, err := item.ValueCopy(nil)
	if err != nil || len(v) != 8 {
		return 0, fmt.Errorf("keystore: snapshot: bad %s (%v)", key, err)
	}
	return binary.BigEndian.Uint64(v), nil
}

// writeField writes a length-prefixed field. Errors stick in bw and are
// reported by Flush.
func writeField(bw *bufio.Writer, b []byte) {
	bw.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
	bw.Write(b)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// scanSnapshot reads a snapshot stream, calling fn with each record in
// order, and verifies the checksum at the end: fn may have seen records of
// a bad stream, so act on them only once scanSnapshot returned nil. The
// slices passed to fn are fn's to keep.
func scanSnapshot(r io.Reader, fn func(key, val []byte) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	h := sha256.New()
	tr := io.TeeReader(br, h)
	head := make([]byte, len(snapMagic)+4)
	if _, err := io.ReadFull(tr, head); err != nil {
		return err
	}
	if string(head[:len(snapMagic)]) != snapMagic {
		return errors.New("bad magic")
	}
	if v := binary.BigEndian.Uint32(head[len(snapMagic):]); v != snapVersion {
		return fmt.Errorf("unknown version %d", v)
	}
	for {
		key, err := readField(tr, maxSnapKey)
		if err != nil {
			return err
		}
		if len(key) == 0 {
			break
		}
		val, err := readField(tr, maxSnapValue)
		if err != nil {
			return err
		}
		if err := fn(key, val); err != nil {
			return err
		}
	}
	return verifySum(br, h)
}

func readField(r io.Reader, max uint32) ([]byte, error) {
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > max {
		return nil, fmt.Errorf("field of %d bytes, at most %d allowed", size, max)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}

func verifySum(r io.Reader, h hash.Hash) error {
	want := h.Sum(nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return errors.New("checksum mismatch")
	}
	return nil
}
