package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func records(prefix string, n int) ([][]byte, []string) {
	var recs [][]byte
	var ids []string
	for i := range n {
		recs = append(recs, fmt.Appendf(nil, `{"r":"%s-%d"}`, prefix, i))
		ids = append(ids, fmt.Sprintf("%s-%d", prefix, i))
	}
	return recs, ids
}

func TestAppendLogs(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	var seen [][]byte
	var firsts []uint64
	s.SetLogObserver(LogObserver{Appended: func(first uint64, recs [][]byte) {
		firsts = append(firsts, first)
		seen = append(seen, recs...)
	}})
	r1, i1 := records("a", 3)
	r2, i2 := records("b", 2)
	r3, i3 := records("c", 1)
	tooMany, tooManyIDs := records("x", MaxLogBatch+1)
	res, err := s.AppendLogs([]LogAppend{
		{Index: 1, Records: r1, IDs: i1},
		{Index: 2, Records: r2, IDs: i2},
		{Index: 3, Records: tooMany, IDs: tooManyIDs},
		{Index: 4, Records: r3, IDs: i3[:0]},
		{Index: 5, Records: r3, IDs: i3},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []LogAppended{{0, true, nil}, {3, true, nil}, {}, {}, {5, true, nil}}
	for i, r := range res {
		if (r.Err != nil) != (i == 2 || i == 3) || r.First != want[i].First || r.Applied != want[i].Applied {
			t.Errorf("entry %d: %+v", i, r)
		}
		if r.Err != nil && !errors.Is(r.Err, ErrInvalidMutation) {
			t.Errorf("entry %d: %v", i, r.Err)
		}
	}
	if s.LogSize() != 6 || s.AppliedIndex() != 5 || len(seen) != 6 || fmt.Sprint(firsts) != "[0 3 5]" {
		t.Fatalf("size %d, applied %d, observed %d from %v", s.LogSize(), s.AppliedIndex(), len(seen), firsts)
	}
	// Replaying the same entries changes nothing.
	res, err = s.AppendLogs([]LogAppend{{Index: 2, Records: r2, IDs: i2}, {Index: 5, Records: r3, IDs: i3}})
	if err != nil || res[0].Applied || res[1].Applied || s.LogSize() != 6 {
		t.Fatalf("replay: %+v, %v, size %d", res, err, s.LogSize())
	}
	got, err := s.LogRecords(0, 100)
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(append([][]byte{}, r1...), r2...), r3...)
	if len(got) != len(all) {
		t.Fatalf("%d records, want %d", len(got), len(all))
	}
	for i := range all {
		if !bytes.Equal(got[i], all[i]) || !bytes.Equal(seen[i], all[i]) {
			t.Fatalf("record %d: %s", i, got[i])
		}
	}
	if pos, ok, err := s.LogPosition("b-1"); err != nil || !ok || pos != 4 {
		t.Fatalf("position of b-1: %d %v %v", pos, ok, err)
	}
	if _, ok, _ := s.LogPosition("nope"); ok {
		t.Fatal("unknown event id found")
	}
	if mid, _ := s.LogRecords(2, 4); len(mid) != 2 || !bytes.Equal(mid[0], all[2]) {
		t.Fatalf("range 2..4: %q", mid)
	}
	s.Close()
	reopened := openStore(t, dir)
	if reopened.LogSize() != 6 || reopened.AppliedIndex() != 5 {
		t.Fatalf("after reopen: size %d, applied %d", reopened.LogSize(), reopened.AppliedIndex())
	}
}

// A burst larger than one transaction is split; every record is kept.
func TestAppendLogsSplitsLargeBursts(t *testing.T) {
	s := openStore(t, "")
	var entries []LogAppend
	for e := range 40 {
		var recs [][]byte
		var ids []string
		for i := range 50 {
			recs = append(recs, bytes.Repeat([]byte{'a' + byte(i%26)}, 1000))
			ids = append(ids, fmt.Sprintf("%d-%d", e, i))
		}
		entries = append(entries, LogAppend{Index: uint64(e + 1), Records: recs, IDs: ids})
	}
	// The observer hears of each entry's records while the applied index
	// is still below that entry, in every transaction of the burst: a
	// reader that waits for the index finds them in what it keeps.
	var observed int
	s.SetLogObserver(LogObserver{Appended: func(first uint64, recs [][]byte) {
		index := first/50 + 1
		if s.AppliedIndex() >= index {
			t.Errorf("observer told of entry %d after the applied index (%d) covered it", index, s.AppliedIndex())
		}
		observed += len(recs)
	}})
	res, err := s.AppendLogs(entries)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil || !r.Applied || r.First != uint64(i*50) {
			t.Fatalf("entry %d: %+v", i, r)
		}
	}
	if s.LogSize() != 2000 || s.AppliedIndex() != 40 || observed != 2000 {
		t.Fatalf("size %d, applied %d, observed %d", s.LogSize(), s.AppliedIndex(), observed)
	}
}

func TestLogHeadsAndKey(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.AppendLogHead(1, 0, []byte("h0")); err != nil {
		t.Fatal(err)
	}
	if err := s.AppendLogHead(2, 0, []byte("h0'")); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second head 0: %v", err)
	}
	if err := s.AppendLogHead(3, 5, []byte("h5")); !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("head 5 of 1: %v", err)
	}
	if err := s.AppendLogHead(4, 1, []byte("h1")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLogKey(5, LogKey{WrappedSeed: []byte("w"), PublicKey: []byte("p")}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetLogKey(6, LogKey{WrappedSeed: []byte("w2"), PublicKey: []byte("p2")}); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second key: %v", err)
	}
	check := func(s *Store) {
		t.Helper()
		hs, err := s.LogHeads(0, 10)
		if err != nil || len(hs) != 2 || string(hs[0]) != "h0" || string(hs[1]) != "h1" || s.LogHeadCount() != 2 {
			t.Fatalf("heads %q, %v", hs, err)
		}
		if k, ok := s.GetLogKey(); !ok || string(k.PublicKey) != "p" || s.AppliedIndex() != 6 {
			t.Fatalf("key %+v %v, applied %d", k, ok, s.AppliedIndex())
		}
	}
	check(s)
	digest := s.Digest()
	snap := snapshotBytes(t, s)
	s.Close()
	reopened := openStore(t, dir)
	check(reopened)
	restored := openStore(t, "")
	resets := 0
	restored.SetLogObserver(LogObserver{Reset: func() { resets++ }})
	if err := restored.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	check(restored)
	if resets != 1 || restored.Digest() != digest {
		t.Fatalf("%d resets; digest differs: %v", resets, restored.Digest() != digest)
	}
}

// A record removed from the database behind the store's back reads as an
// empty record at its position; the positions of the others do not move.
func TestLogRecordRemovedBehindTheStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	recs, ids := records("r", 5)
	if _, _, err := s.AppendLog(1, recs, ids); err != nil {
		t.Fatal(err)
	}
	s.Close()
	removeFrame(t, dir, 2)
	s = openStore(t, dir)
	got, err := s.LogRecords(0, 10)
	if err != nil || s.LogSize() != 5 || len(got) != 5 {
		t.Fatalf("size %d, %d records, %v", s.LogSize(), len(got), err)
	}
	for i, r := range got {
		want := recs[i]
		if i == 2 {
			want = []byte{}
		}
		if !bytes.Equal(r, want) {
			t.Errorf("record %d = %q", i, r)
		}
	}
}

// Signed tree heads (up to MaxLogHead) are kept in Badger's tree, whose
// tables are checked when the store opens, and not in its value log, whose
// damage Badger does not always detect (see badgerOptions).
func TestLogHeadsStayOutOfTheValueLog(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	head := bytes.Repeat([]byte("h"), 64<<10)
	for i := range 100 {
		if err := s.AppendLogHead(uint64(i+1), uint64(i), head); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	if n > 4<<10 {
		t.Fatalf("value-log files hold %d bytes after 100 heads of 64 KiB: heads went to the value log", n)
	}
}
