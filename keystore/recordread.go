package keystore

import (
	"errors"
	"fmt"
	"os"
)

// Reading the record files: a view of the segments (the store's own, or
// one held open for a snapshot), and reads of ranges of positions.

// errPrunedRecords: the records asked for are no longer in the files.
var errPrunedRecords = errors.New("records pruned")

// segments is a view of the segments for reading.
type segments struct {
	segs []segment
	next uint64
}

// read returns the records at positions [lo, hi), clamped to what was
// written; a position without a frame, or with an empty one, reads as an
// empty record. Positions before the first segment are pruned.
func (v segments) read(lo, hi uint64) ([][]byte, error) {
	hi = min(hi, v.next)
	if lo >= hi {
		return nil, nil
	}
	if len(v.segs) == 0 || lo < v.segs[0].first {
		return nil, errPrunedRecords
	}
	out := make([][]byte, hi-lo)
	for i := range out {
		out[i] = []byte{}
	}
	for _, s := range v.segs {
		if s.first >= hi || s.first+uint64(len(s.offs)) <= lo {
			continue
		}
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
			return nil, err
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

// view returns the segments as they are now.
func (rf *recordFiles) view() segments {
	rf.mu.RLock()
	defer rf.mu.RUnlock()
	v := segments{next: rf.next, segs: make([]segment, len(rf.segs))}
	for i, s := range rf.segs {
		v.segs[i] = segment{first: s.first, f: s.f, offs: s.offs, ends: s.ends}
	}
	return v
}

// read returns the records at positions [lo, hi) (see segments.read). A
// read that meets a segment being pruned returns errPrunedRecords.
func (rf *recordFiles) read(lo, hi uint64) ([][]byte, error) {
	recs, err := rf.view().read(lo, hi)
	if err != nil && !errors.Is(err, errDamaged) && !errors.Is(err, errPrunedRecords) {
		if v := rf.view(); len(v.segs) == 0 || lo < v.segs[0].first {
			return nil, errPrunedRecords
		}
	}
	return recs, err
}

// hold returns the segments as they are now, each with a file of its own
// that pruning does not close: a snapshot reads from it while the store
// goes on. Close them with release.
func (rf *recordFiles) hold() (segments, error) {
	rf.mu.RLock()
	defer rf.mu.RUnlock()
	v := segments{next: rf.next}
	for _, s := range rf.segs {
		f, err := os.Open(s.f.Name())
		if err != nil {
			release(v)
			return segments{}, err
		}
		v.segs = append(v.segs, segment{first: s.first, f: f, offs: s.offs, ends: s.ends})
	}
	return v, nil
}

func release(v segments) {
	for _, s := range v.segs {
		s.f.Close()
	}
}
