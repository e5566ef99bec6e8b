package keystore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Audit records are kept in files of their own, next to Badger's, and not
// in Badger: a record is written once, appended to a file, where in an LSM
// tree it would be rewritten by every compaction of a level it passes
// through, ever more often as the log grows. The rest of the audit log (the
// event-id index, the MACs, the signed heads, the size) stays in Badger.
//
// The files are segments named by the position of their first record
// (records/<position, 20 digits>.rec), each a sequence of frames:
//
//	body length (uint32, big-endian) || CRC-32C of body (uint32) || body
//	body: position (uint64) || index of the log entry that wrote it (uint64) || record
//
// A frame is appended, and the file synced, before the Badger transaction
// that records the entry as applied commits. Opening the store therefore
// finds, after the records the state says are there, at most the frames of
// entries not applied (a crash in between): those are cut off, and applied
// again from the Raft log. Anything else that does not read back — a
// frame whose checksum fails, or records missing below the size the state
// recorded — is damage, and the store refuses to open.

const (
	recordsDir    = "records"
	recordSuffix  = ".rec"
	frameHeader   = 8
	frameBodyHead = 16
	// segmentBytes is the size at which a segment is closed and the next
	// begun; pruning removes whole segments.
	segmentBytes = 64 << 20
	// noFrame marks a position with no frame in its segment (removed
	// behind the store's back): it reads as an empty record.
	noFrame = ^uint32(0)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errDamaged reports record files that do not read back as written.
var errDamaged = errors.New("audit record files damaged")

// recordFiles is the set of segments. Appends (under the store's write
// lock) and reads (from any goroutine) are safe together.
type recordFiles struct {
	dir string

	mu   sync.RWMutex
	segs []*segment // by first position, ascending
	next uint64     // one past the last position written
}

type segment struct {
	first uint64
	f     *os.File
	// offs[i] is the offset of the frame of position first+i, or noFrame;
	// ends[i] where it ends. Only appended to: a reader may keep a slice.
	offs, ends []uint32
	size       int64
}

// frame is one decoded frame.
type frame struct {
	pos, index uint64
	record     []byte
	off, end   int64
}

// appendFrame appends the frame of record to b.
func appendFrame(b []byte, pos, index uint64, record []byte) []byte {
	n := frameBodyHead + len(record)
	start := len(b)
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, pos)
	b = binary.BigEndian.AppendUint64(b, index)
	b = append(b, record...)
	binary.BigEndian.PutUint32(b[start+4:], crc32.Checksum(b[start+frameHeader:], castagnoli))
	return b
}

// parseFrame decodes the frame at the start of b and returns it and its
// length, or an error if b does not start with a whole, intact frame.
func parseFrame(b []byte) (frame, int, error) {
	if len(b) < frameHeader {
		return frame{}, 0, io.ErrUnexpectedEOF
	}
	n := binary.BigEndian.Uint32(b)
	if n < frameBodyHead || n > frameBodyHead+MaxLogRecord {
		return frame{}, 0, fmt.Errorf("frame of %d bytes", n)
	}
	if uint64(len(b)-frameHeader) < uint64(n) {
		return frame{}, 0, io.ErrUnexpectedEOF
	}
	body := b[frameHeader : frameHeader+int(n)]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
		return frame{}, 0, errors.New("frame checksum mismatch")
	}
	return frame{pos: binary.BigEndian.Uint64(body), index: binary.BigEndian.Uint64(body[8:]), record: body[frameBodyHead:]},
		frameHeader + int(n), nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, recordSuffix) }

// openRecordFiles opens the segments in dir (created if missing). applied
// is the state's applied index and size the number of records it says the
// log holds: frames of entries after applied are cut off; records missing
// below size, or an unreadable frame followed by frames of applied
// entries, make it fail with errDamaged. Segments wholly before pruned are
// removed (a prune cut short by a crash).
func openRecordFiles(dir string, applied, size, pruned uint64) (*recordFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+recordSuffix))
	if err != nil {
		return nil, err
	}
	type named struct {
		first uint64
		path  string
	}
	var found []named
	for _, p := range names {
		first, err := strconv.ParseUint(strings.TrimSuffix(filepath.Base(p), recordSuffix), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: unexpected file %s", errDamaged, p)
		}
		found = append(found, named{first, p})
	}
	sort.Slice(found, func(i, j int) bool { return found[i].first < found[j].first })
	rf := &recordFiles{dir: dir, next: pruned}
	fail := func(err error) (*recordFiles, error) {
		rf.close()
		return nil, err
	}
	var cuts []int // per segment kept: whether its end is cut off
	for i, fd := range found {
		if i+1 < len(found) && found[i+1].first <= pruned {
			if err := os.Remove(fd.path); err != nil {
				return fail(err)
			}
			continue
		}
		seg, cut, err := openSegment(fd.path, fd.first, applied)
		if err != nil {
			return fail(err)
		}
		rf.segs = append(rf.segs, seg)
		if len(seg.offs) > 0 {
			rf.next = max(rf.next, seg.first+uint64(len(seg.offs)))
		}
		if cut {
			cuts = append(cuts, len(rf.segs)-1)
		}
	}
	for _, i := range cuts {
		if i != len(rf.segs)-1 {
			// Cut short, yet a later segment holds records: damage.
			return fail(fmt.Errorf("%w: %s ends in a frame that does not read back", errDamaged, filepath.Base(rf.segs[i].f.Name())))
		}
	}
	if rf.next < size {
		return fail(fmt.Errorf("%w: the state holds %d records, the files %d", errDamaged, size, rf.next))
	}
	// What is left after the last record is what a crash left: cut it.
	if n := len(rf.segs); n > 0 && len(cuts) > 0 {
		seg := rf.segs[n-1]
		if err := seg.f.Truncate(seg.size); err != nil {
			return fail(err)
		}
		if err := seg.f.Sync(); err != nil {
			return fail(err)
		}
	}
	return rf, nil
}

// openSegment reads the segment at path, whose first position is first,
// up to its last whole frame of an entry at or before applied. cut reports
// that more follows (frames of later entries, or bytes that are not a
// frame): the caller decides whether that is a crash's leftover, to be cut
// off, or damage.
func openSegment(path string, first, applied uint64) (*segment, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, false, err
	}
	seg := &segment{first: first, f: f}
	var off int64
	for off < int64(len(data)) {
		fr, n, err := parseFrame(data[off:])
		if err != nil || fr.index > applied {
			break
		}
		if fr.pos < first+uint64(len(seg.offs)) {
			f.Close()
			return nil, false, fmt.Errorf("%w: %s: record %d out of order", errDamaged, filepath.Base(path), fr.pos)
		}
		for first+uint64(len(seg.offs)) < fr.pos {
			seg.offs, seg.ends = append(seg.offs, noFrame), append(seg.ends, noFrame)
		}
		seg.offs, seg.ends = append(seg.offs, uint32(off)), append(seg.ends, uint32(off)+uint32(n))
		off += int64(n)
	}
	seg.size = off
	return seg, off < int64(len(data)), nil
}

// size returns one past the last position written.
func (rf *recordFiles) size() uint64 {
	rf.mu.RLock()
	defer rf.mu.RUnlock()
	return rf.next
}

// append writes the frames of records at positions first, first+1, … as
// the effect of entry index. They are durable once sync returns.
func (rf *recordFiles) append(first, index uint64, records [][]byte) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if first < rf.next {
		return fmt.Errorf("keystore: record %d appended after %d", first, rf.next)
	}
	seg, err := rf.tailLocked(first)
	if err != nil {
		return err
	}
	var buf []byte
	offs, ends := seg.offs, seg.ends
	for first > seg.first+uint64(len(offs)) {
		offs, ends = append(offs, noFrame), append(ends, noFrame)
	}
	for i, r := range records {
		start := seg.size + int64(len(buf))
		buf = appendFrame(buf, first+uint64(i), index, r)
		offs, ends = append(offs, uint32(start)), append(ends, uint32(seg.size+int64(len(buf))))
	}
	if _, err := seg.f.WriteAt(buf, seg.size); err != nil {
		// The frames may be partly written: cut them off.
		seg.f.Truncate(seg.size)
		return err
	}
	seg.offs, seg.ends, seg.size = offs, ends, seg.size+int64(len(buf))
	rf.next = first + uint64(len(records))
	return nil
}

// tailLocked returns the segment to append position pos to, beginning a
// new one when the last is full.
func (rf *recordFiles) tailLocked(pos uint64) (*segment, error) {
	if n := len(rf.segs); n > 0 && rf.segs[n-1].size < segmentBytes {
		return rf.segs[n-1], nil
	}
	path := filepath.Join(rf.dir, segmentName(pos))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(rf.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	seg := &segment{first: pos, f: f}
	rf.segs = append(rf.segs, seg)
	return seg, nil
}

// rollback cuts off the records from pos on: their entry was not applied.
func (rf *recordFiles) rollback(pos uint64) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for len(rf.segs) > 0 {
		seg := rf.segs[len(rf.segs)-1]
		if pos > seg.first || (pos == seg.first && len(rf.segs) == 1) {
			keep := min(uint64(len(seg.offs)), pos-seg.first)
			size := int64(0)
			for i := int(keep) - 1; i >= 0; i-- {
				if seg.offs[i] != noFrame {
					size = int64(seg.ends[i])
					break
				}
			}
			if err := seg.f.Truncate(size); err != nil {
				return err
			}
			seg.offs, seg.ends, seg.size = seg.offs[:keep], seg.ends[:keep], size
			break
		}
		seg.f.Close()
		os.Remove(seg.f.Name())
		rf.segs = rf.segs[:len(rf.segs)-1]
	}
	rf.next = min(rf.next, pos)
	return nil
}

// sync makes every append so far durable.
func (rf *recordFiles) sync() error {
	rf.mu.RLock()
	defer rf.mu.RUnlock()
	if n := len(rf.segs); n > 0 {
		return rf.segs[n-1].f.Sync()
	}
	return nil
}

// read returns the records at positions [lo, hi), clamped to what was
// written; a position without a frame reads as an empty record.
func (rf *recordFiles) read(lo, hi uint64) ([][]byte, error) {
	rf.mu.RLock()
	hi = min(hi, rf.next)
	var parts []segment
	for _, s := range rf.segs {
		end := s.first + uint64(len(s.offs))
		if end > lo && s.first < hi {
			parts = append(parts, segment{first: s.first, f: s.f, offs: s.offs, ends: s.ends})
		}
	}
	rf.mu.RUnlock()
	if lo >= hi {
		return nil, nil
	}
	out := make([][]byte, hi-lo)
	for i := range out {
		out[i] = []byte{}
	}
	for _, s := range parts {
		a := max(lo, s.first) - s.first
		b := min(hi, s.first+uint64(len(s.offs))) - s.first
		// One read from the first frame to the end of the last.
		var from, to uint32 = noFrame, 0
		for i := a; i < b; i++ {
			if s.offs[i] != noFrame {
				from, to = min(from, s.offs[i]), max(to, s.ends[i])
			}
		}
		if from == noFrame {
			continue
		}
		buf := make([]byte, to-from)
		if _, err := s.f.ReadAt(buf, int64(from)); err != nil {
			return nil, fmt.Errorf("%w: %w", errDamaged, err)
		}
		for i := a; i < b; i++ {
			if s.offs[i] == noFrame {
				continue
			}
			fr, _, err := parseFrame(buf[s.offs[i]-from : s.ends[i]-from])
			if err != nil || fr.pos != s.first+i {
				return nil, fmt.Errorf("%w: record %d: %v", errDamaged, s.first+i, err)
			}
			out[s.first+i-lo] = fr.record
		}
	}
	return out, nil
}

// prune removes the segments that hold only records before pos. The last
// segment stays.
func (rf *recordFiles) prune(pos uint64) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for len(rf.segs) > 1 && rf.segs[1].first <= pos {
		seg := rf.segs[0]
		seg.f.Close()
		if err := os.Remove(seg.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		rf.segs = rf.segs[1:]
	}
	return syncDir(rf.dir)
}

// reset removes every segment: the log begins again at position from.
func (rf *recordFiles) reset(from uint64) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	for _, seg := range rf.segs {
		seg.f.Close()
		if err := os.Remove(seg.f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	rf.segs, rf.next = nil, from
	return syncDir(rf.dir)
}

func (rf *recordFiles) close() error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	var errs []error
	for _, seg := range rf.segs {
		errs = append(errs, seg.f.Close())
	}
	rf.segs = nil
	return errors.Join(errs...)
}

// syncDir makes the creation and removal of files in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

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
	v.logSize = max(v.logSize, rf.size())
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
		// A position the database lacks stays without a frame.
		for i := 0; i < len(recs); {
			j := i
			for j < len(recs) && len(recs[j]) > 0 {
				j++
			}
			if j > i {
				if err := rf.append(lo+uint64(i), v.applied, recs[i:j]); err != nil {
					return err
				}
			}
			i = j + 1
		}
	}
	if err := rf.sync(); err != nil {
		return err
	}
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
	if err := txn.Set([]byte(keyLogSize), be64(v.logSize)); err != nil {
		return err
	}
	if err := txn.Commit(); err != nil {
		return err
	}
	v.logSizeStored = true
	return nil
}

// rebuildBatch is how many records a move or a snapshot reads at a time.
const rebuildBatch = 4096
