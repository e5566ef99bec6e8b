package keystore

import (
	"bufio"
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
	// maxRecordGap bounds a run of positions without records: records
	// removed behind a store's back, carried over by a snapshot.
	maxRecordGap = 1 << 16
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
	// segBytes is segmentBytes, smaller in tests.
	segBytes int64

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
// is the state's applied index, size the number of records it says the
// log holds and pruned the first record it still holds.
//
// The segments must follow one another without a gap, the first holding
// pruned. Frames of entries after applied, and whatever follows them, are
// what a crash left between writing records and applying their entry:
// they are cut off (with any later segment, which can hold nothing else).
// Anything else that does not read back, or records missing below size,
// fails with errDamaged.
func openRecordFiles(dir string, applied, size, pruned uint64) (*recordFiles, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
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
	// Segments wholly before pruned go (a prune cut short by a crash).
	for len(found) > 1 && found[1].first <= pruned {
		if err := os.Remove(found[0].path); err != nil {
			return nil, err
		}
		found = found[1:]
	}
	rf := &recordFiles{dir: dir, next: pruned, segBytes: segmentBytes}
	fail := func(err error) (*recordFiles, error) {
		rf.close()
		return nil, err
	}
	var segs []*segment
	var cuts []bool
	for _, fd := range found {
		seg, cut, err := openSegment(fd.path, fd.first, applied)
		if err != nil {
			for _, s := range segs {
				s.f.Close()
			}
			return nil, err
		}
		segs, cuts = append(segs, seg), append(cuts, cut)
	}
	// The segments up to the last that holds a record of an applied
	// entry are the log; any after it hold only what a crash left (frames
	// of entries never applied, or a restore cut short before its state
	// was written), and go.
	keep := 0
	for i, seg := range segs {
		if len(seg.offs) > 0 {
			keep = i + 1
		}
	}
	var leftover []string
	for _, seg := range segs[keep:] {
		leftover = append(leftover, seg.f.Name())
		seg.f.Close()
	}
	rf.segs = segs[:keep]
	cut := -1 // the segment cut short: the last kept, or none
	for i, seg := range rf.segs {
		if cuts[i] {
			if i != keep-1 {
				return fail(fmt.Errorf("%w: %s does not read back to its end, and records follow", errDamaged, filepath.Base(seg.f.Name())))
			}
			cut = i
		}
		if i > 0 {
			if prev := rf.segs[i-1]; prev.first+uint64(len(prev.offs)) != seg.first {
				return fail(fmt.Errorf("%w: %s does not follow %s", errDamaged, filepath.Base(seg.f.Name()), filepath.Base(prev.f.Name())))
			}
		}
	}
	if len(rf.segs) > 0 {
		if first := rf.segs[0].first; first > pruned {
			return fail(fmt.Errorf("%w: the records from %d to %d are missing", errDamaged, pruned, first))
		}
		last := rf.segs[len(rf.segs)-1]
		rf.next = max(pruned, last.first+uint64(len(last.offs)))
	}
	if rf.next < size {
		return fail(fmt.Errorf("%w: the state holds %d records, the files %d", errDamaged, size, rf.next))
	}
	// What follows the last record is what a crash left: cut it off.
	if cut >= 0 {
		seg := rf.segs[cut]
		if err := seg.f.Truncate(seg.size); err != nil {
			return fail(err)
		}
		if err := seg.f.Sync(); err != nil {
			return fail(err)
		}
	}
	for _, p := range leftover {
		if err := os.Remove(p); err != nil {
			return fail(err)
		}
	}
	if len(leftover) > 0 {
		if err := syncDir(dir); err != nil {
			return fail(err)
		}
	}
	return rf, nil
}

// openSegment reads the segment at path, whose first position is first,
// up to its last whole frame of an entry at or before applied. cut reports
// that more follows (frames of later entries, or bytes that are not a
// frame): the caller decides whether that is a crash's leftover, to be cut
// off, or damage. It reads one frame at a time.
func openSegment(path string, first, applied uint64) (*segment, bool, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0o600)
	if err != nil {
		return nil, false, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	seg := &segment{first: first, f: f}
	r := bufio.NewReaderSize(f, 1<<20)
	var buf []byte
	var off int64
	for off < fi.Size() {
		head, err := r.Peek(frameHeader)
		if err != nil {
			break // torn
		}
		n := int(binary.BigEndian.Uint32(head))
		if n < frameBodyHead || n > frameBodyHead+MaxLogRecord {
			break
		}
		if cap(buf) < frameHeader+n {
			buf = make([]byte, frameHeader+n)
		}
		buf = buf[:frameHeader+n]
		if _, err := io.ReadFull(r, buf); err != nil {
			break // torn
		}
		fr, _, err := parseFrame(buf)
		if err != nil || fr.index > applied {
			break
		}
		if want := first + uint64(len(seg.offs)); fr.pos < want || fr.pos-want > maxRecordGap {
			f.Close()
			return nil, false, fmt.Errorf("%w: %s: record %d where %d was due", errDamaged, filepath.Base(path), fr.pos, want)
		}
		for first+uint64(len(seg.offs)) < fr.pos {
			seg.offs, seg.ends = append(seg.offs, noFrame), append(seg.ends, noFrame)
		}
		seg.offs, seg.ends = append(seg.offs, uint32(off)), append(seg.ends, uint32(off)+uint32(len(buf)))
		off += int64(len(buf))
	}
	seg.size = off
	return seg, off < fi.Size(), nil
}

// size returns one past the last position written.
func (rf *recordFiles) size() uint64 {
	rf.mu.RLock()
	defer rf.mu.RUnlock()
	return rf.next
}

// append writes the frames of records at positions first, first+1, … as
// the effect of entry index. They are durable once sync returns. Positions
// skipped before first (records removed behind a store's back, carried
// over by a snapshot or a move) get empty frames: segments stay
// contiguous, and the positions read as empty records.
func (rf *recordFiles) append(first, index uint64, records [][]byte) error {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if first < rf.next {
		return fmt.Errorf("keystore: record %d appended after %d", first, rf.next)
	}
	if first-rf.next > maxRecordGap {
		return fmt.Errorf("keystore: record %d appended after %d", first, rf.next)
	}
	if first > rf.next {
		gap := make([][]byte, first-rf.next, int(first-rf.next)+len(records))
		records, first = append(gap, records...), rf.next
	}
	seg, err := rf.tailLocked()
	if err != nil {
		return err
	}
	var buf []byte
	offs, ends := seg.offs, seg.ends
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

// tailLocked returns the segment to append to: the last, or a new one,
// beginning at the next position, when the last is full (which is synced
// first: sync syncs only the last).
func (rf *recordFiles) tailLocked() (*segment, error) {
	n := len(rf.segs)
	if n > 0 && rf.segs[n-1].size < rf.segBytes {
		return rf.segs[n-1], nil
	}
	if n > 0 {
		if err := rf.segs[n-1].f.Sync(); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(rf.dir, segmentName(rf.next))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syncDir(rf.dir); err != nil {
		f.Close()
		os.Remove(path)
		return nil, err
	}
	seg := &segment{first: rf.next, f: f}
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

// sync makes every append so far durable: earlier segments were synced
// when the next was begun.
func (rf *recordFiles) sync() error {
	rf.mu.RLock()
	defer rf.mu.RUnlock()
	if n := len(rf.segs); n > 0 {
		return rf.segs[n-1].f.Sync()
	}
	return nil
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
