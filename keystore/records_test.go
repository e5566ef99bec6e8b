package keystore

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// removeFrame rewrites the record files in dir/records without the frame
// of position pos, as someone editing the files behind the store's back
// would.
func removeFrame(t *testing.T, dir string, pos uint64) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, recordsDir, "*"+recordSuffix))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var out []byte
		for off := 0; off < len(data); {
			fr, n, err := parseFrame(data[off:])
			if err != nil {
				t.Fatalf("%s at %d: %v", f, off, err)
			}
			if fr.pos != pos {
				out = append(out, data[off:off+n]...)
			}
			off += n
		}
		if err := os.WriteFile(f, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, rec := range [][]byte{{1}, []byte(`{"eventName":"Encrypt"}`), bytes.Repeat([]byte{7}, MaxLogRecord)} {
		b := appendFrame([]byte("prefix"), 42, 7, rec)[len("prefix"):]
		fr, n, err := parseFrame(b)
		if err != nil || n != len(b) || fr.pos != 42 || fr.index != 7 || !bytes.Equal(fr.record, rec) {
			t.Fatalf("record of %d bytes: %+v, %d of %d, %v", len(rec), fr.pos, n, len(b), err)
		}
		for i := range b {
			if _, _, err := parseFrame(b[:i]); err == nil {
				t.Fatalf("a frame cut to %d of %d bytes parsed", i, len(b))
			}
		}
		for _, i := range []int{0, 3, 4, 7, 8, 15, 16, len(b) - 1} {
			c := bytes.Clone(b)
			c[i] ^= 0x40
			if fr, _, err := parseFrame(c); err == nil && bytes.Equal(fr.record, rec) && fr.pos == 42 && fr.index == 7 {
				t.Fatalf("byte %d flipped, frame still parsed as written", i)
			}
		}
	}
}

func FuzzParseFrame(f *testing.F) {
	f.Add(appendFrame(nil, 1, 2, []byte("record")))
	f.Add([]byte{0, 0, 0, 16, 1, 2, 3, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := parseFrame(b)
		if err != nil {
			return
		}
		if n > len(b) || n != frameHeader+frameBodyHead+len(fr.record) {
			t.Fatalf("frame of %d bytes in %d", n, len(b))
		}
		if again := appendFrame(nil, fr.pos, fr.index, fr.record); !bytes.Equal(again, b[:n]) {
			t.Fatal("a parsed frame does not encode back to its bytes")
		}
	})
}

// records appends batches of records as entries 1, 2, … and returns all
// of them.
func appendBatches(t *testing.T, s *Store, batches, per int) [][]byte {
	t.Helper()
	var all [][]byte
	for b := range batches {
		recs, ids := records(fmt.Sprint("b", b), per)
		if _, _, err := s.AppendLog(s.AppliedIndex()+1, recs, ids); err != nil {
			t.Fatal(err)
		}
		all = append(all, recs...)
	}
	return all
}

// Records survive a reopen; the frames of an entry written to the files
// but never applied (a crash before its transaction committed) are cut
// off, and the entry applies again at the same positions.
func TestRecordFilesCrashBeforeCommit(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	want := appendBatches(t, s, 3, 5)
	applied := s.AppliedIndex()
	// Frames of entry applied+1 reach the files; the state never says so.
	if err := s.rec.append(uint64(len(want)), applied+1, [][]byte{[]byte("never applied")}); err != nil {
		t.Fatal(err)
	}
	if err := s.rec.sync(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	if s.LogSize() != uint64(len(want)) {
		t.Fatalf("size %d after the reopen, want %d", s.LogSize(), len(want))
	}
	recs, ids := records("again", 2)
	first, ok, err := s.AppendLog(applied+1, recs, ids)
	if err != nil || !ok || first != uint64(len(want)) {
		t.Fatalf("entry applied again at %d (%v, %v), want %d", first, ok, err, len(want))
	}
	got, err := s.LogRecords(0, s.LogSize())
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, recs...)
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("record %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// Damage to the record files is found when the store opens: a flipped
// byte or a file cut short below the size the state records refuses the
// store, as does a missing segment.
func TestRecordFilesDamageRefusesOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(path string, data []byte) error
	}{
		{"flipped", func(p string, b []byte) error { b[len(b)/2] ^= 1; return os.WriteFile(p, b, 0o600) }},
		{"cut short", func(p string, b []byte) error { return os.WriteFile(p, b[:len(b)/2], 0o600) }},
		{"emptied", func(p string, b []byte) error { return os.WriteFile(p, nil, 0o600) }},
		{"removed", func(p string, b []byte) error { return os.Remove(p) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			appendBatches(t, s, 4, 10)
			s.Close()
			files, _ := filepath.Glob(filepath.Join(dir, recordsDir, "*"+recordSuffix))
			if len(files) != 1 {
				t.Fatalf("%d record files", len(files))
			}
			data, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.damage(files[0], data); err != nil {
				t.Fatal(err)
			}
			s2, err := Open(dir, Options{})
			if err == nil {
				s2.Close()
				t.Fatal("a store with damaged record files opened")
			}
			if !errors.Is(err, errDamaged) {
				t.Fatalf("open: %v, want errDamaged", err)
			}
		})
	}
}

// Records in segments: reads across segment boundaries, pruning removes
// the segments wholly before the pruned position, and a snapshot carries
// the records still held to a store that restores them.
func TestRecordSegmentsPruneAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	rec := func(i int) []byte { return append(fmt.Appendf(nil, "%06d:", i), bytes.Repeat([]byte("x"), 200<<10)...) }
	// Big records: 400 of them fill more than one 64 MiB segment.
	const n = 400
	for i := 0; i < n; i += 2 {
		if _, _, err := s.AppendLog(s.AppliedIndex()+1, [][]byte{rec(i), rec(i + 1)}, []string{fmt.Sprint(i), fmt.Sprint(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, recordsDir, "*"+recordSuffix))
	if len(files) < 2 {
		t.Fatalf("%d record files for %d MiB of records", len(files), n*200>>10)
	}
	got, err := s.LogRecords(0, n)
	if err != nil || len(got) != n {
		t.Fatalf("%d records, %v", len(got), err)
	}
	for i := range got {
		if !bytes.Equal(got[i], rec(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
	if err := s.PruneLog(s.AppliedIndex()+1, 0, n-10); err != nil {
		t.Fatal(err)
	}
	after, _ := filepath.Glob(filepath.Join(dir, recordsDir, "*"+recordSuffix))
	if len(after) != 1 {
		t.Fatalf("%d record files after pruning all but the last 10 records, want 1", len(after))
	}
	snap := snapshotBytes(t, s)
	other := openStore(t, "")
	if err := other.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if other.LogSize() != n || other.LogPruned() != n-10 || other.Digest() != s.Digest() {
		t.Fatalf("restored: size %d, pruned %d, same digest %v", other.LogSize(), other.LogPruned(), other.Digest() == s.Digest())
	}
	got, err = other.LogRecords(n-10, n)
	if err != nil || len(got) != 10 || !bytes.Equal(got[9], rec(n-1)) {
		t.Fatalf("restored records: %d, %v", len(got), err)
	}
}

// A store written before record files keeps its records in the database;
// opening it moves them to the files, gaps included, and a move cut short
// after the copy is taken up again.
func TestRecordsMovedFromTheDatabase(t *testing.T) {
	for _, cutShort := range []bool{false, true} {
		t.Run(fmt.Sprint("cut short ", cutShort), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			recs, _ := records("old", 6)
			// As the store wrote them before: l/<pos> in the database,
			// record 3 removed behind its back, no m/logsize.
			txn := s.db.NewTransaction(true)
			for i, r := range recs {
				if i != 3 {
					if err := txn.Set(append([]byte(prefixLog), be64(uint64(i))...), r); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := txn.Set([]byte(keyApplied), be64(1)); err != nil {
				t.Fatal(err)
			}
			if err := txn.Commit(); err != nil {
				t.Fatal(err)
			}
			s.Close()
			if err := os.RemoveAll(filepath.Join(dir, recordsDir)); err != nil {
				t.Fatal(err)
			}
			if cutShort {
				// The copy and the size made it, the removal did not.
				s := openStoreNoMove(t, dir)
				if err := s.copyRecords(filepath.Join(dir, recordsDir)); err != nil {
					t.Fatal(err)
				}
				s.db.Close()
			}
			s = openStore(t, dir)
			got, err := s.LogRecords(0, 10)
			if err != nil || s.LogSize() != 6 || len(got) != 6 {
				t.Fatalf("size %d, %d records, %v", s.LogSize(), len(got), err)
			}
			for i, r := range got {
				want := recs[i]
				if i == 3 {
					want = []byte{}
				}
				if !bytes.Equal(r, want) {
					t.Errorf("record %d = %q, want %q", i, r, want)
				}
			}
			left, err := s.rangeOf(prefixLog, 0, 6, 6)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range left {
				if len(r) > 0 {
					t.Errorf("record %d still in the database", i)
				}
			}
			more, ids := records("new", 2)
			if first, _, err := s.AppendLog(2, more, ids); err != nil || first != 6 {
				t.Fatalf("appended at %d, %v; want 6", first, err)
			}
		})
	}
}

// openStoreNoMove opens the database of the store in dir and loads its
// view, without opening or moving records.
func openStoreNoMove(t *testing.T, dir string) *Store {
	t.Helper()
	db, err := badger.Open(badgerOptions(dir, false, testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := loadView(db)
	if err != nil {
		t.Fatal(err)
	}
	s := &Store{db: db, log: testLogger(t), dir: dir, v: v}
	s.applied.Store(v.applied)
	return s
}

// Reads run beside appends: every record read is the one appended at its
// position.
func TestRecordReadsBesideAppends(t *testing.T) {
	s := openStore(t, "")
	rec := func(i uint64) []byte { return fmt.Appendf(nil, `{"n":%d}`, i) }
	done := make(chan error, 1)
	go func() {
		for b := uint64(0); b < 200; b++ {
			recs := [][]byte{rec(2 * b), rec(2*b + 1)}
			if _, _, err := s.AppendLog(b+1, recs, []string{"", ""}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			if s.LogSize() != 400 {
				t.Fatalf("size %d", s.LogSize())
			}
			return
		default:
		}
		n := s.LogSize()
		got, err := s.LogRecords(0, n)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if !bytes.Equal(r, rec(uint64(i))) {
				t.Fatalf("record %d of %d = %q", i, n, r)
			}
		}
	}
}

// smallSegments makes s begin a new record file every 4 KiB.
func smallSegments(s *Store) { s.rec.segBytes = 4 << 10 }

func kiloRecord(i int) []byte {
	return append(fmt.Appendf(nil, "%06d:", i), bytes.Repeat([]byte("x"), 1000)...)
}

// fillKilo appends n records of about 1 KiB, two per entry.
func fillKilo(t *testing.T, s *Store, n int) {
	t.Helper()
	for i := 0; i < n; i += 2 {
		if _, _, err := s.AppendLog(s.AppliedIndex()+1, [][]byte{kiloRecord(i), kiloRecord(i + 1)}, []string{"", ""}); err != nil {
			t.Fatal(err)
		}
	}
}

func recordFileNames(t *testing.T, dir string) []string {
	t.Helper()
	f, err := filepath.Glob(filepath.Join(dir, recordsDir, "*"+recordSuffix))
	if err != nil {
		t.Fatal(err)
	}
	return f // sorted, and the names sort by position
}

// Entries written across the start of a new record file and never
// applied (a crash before their transaction) are cut off, the new file
// with them.
func TestRecordFilesCrashAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	smallSegments(s)
	fillKilo(t, s, 2)
	applied, size := s.AppliedIndex(), s.LogSize()
	if err := s.rec.append(size, applied+1, [][]byte{kiloRecord(100), kiloRecord(101), kiloRecord(102)}); err != nil {
		t.Fatal(err)
	}
	if err := s.rec.append(size+3, applied+2, [][]byte{kiloRecord(103), kiloRecord(104)}); err != nil {
		t.Fatal(err)
	}
	if err := s.rec.sync(); err != nil {
		t.Fatal(err)
	}
	if n := len(recordFileNames(t, dir)); n < 2 {
		t.Fatalf("%d record files: the appends did not begin a new one", n)
	}
	s.Close()
	s = openStore(t, dir)
	if s.LogSize() != size || len(recordFileNames(t, dir)) != 1 {
		t.Fatalf("size %d (want %d), %d record files (want 1) after the reopen", s.LogSize(), size, len(recordFileNames(t, dir)))
	}
	fillKilo(t, s, 2)
	if got, err := s.LogRecords(0, 4); err != nil || !bytes.Equal(got[3], kiloRecord(1)) {
		t.Fatalf("records after the reopen: %v", err)
	}
}

// A restore cut short by a crash before its last transaction leaves a
// store that opens empty (applied index 0), to be restored again.
func TestRestoreCutShortOpens(t *testing.T) {
	src := openStore(t, "")
	fillKilo(t, src, 40)
	snap := snapshotBytes(t, src)
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Undo the last transaction, as a crash before it would have.
	db, err := badger.Open(badgerOptions(dir, false, testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		return errors.Join(txn.Delete([]byte(keyApplied)), txn.Delete([]byte(keyLogSize)))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir)
	if s.AppliedIndex() != 0 || s.LogSize() != 0 {
		t.Fatalf("after a restore cut short: applied %d, size %d; want 0, 0", s.AppliedIndex(), s.LogSize())
	}
	if err := s.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if s.Digest() != src.Digest() {
		t.Fatal("restored again: the state differs from the snapshot's")
	}
}

// A snapshot taken before a prune still carries every record its state
// holds: it reads them from files it holds open.
func TestSnapshotBesidePrune(t *testing.T) {
	src := openStore(t, "")
	smallSegments(src)
	fillKilo(t, src, 40)
	digest := src.Digest()
	sn, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	if err := src.PruneLog(src.AppliedIndex()+1, 0, 30); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	dst := openStore(t, "")
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	got, err := dst.LogRecords(0, 40)
	if err != nil || len(got) != 40 || dst.Digest() != digest {
		t.Fatalf("restored %d records (%v), same digest as before the prune %v", len(got), err, dst.Digest() == digest)
	}
	for i, r := range got {
		if !bytes.Equal(r, kiloRecord(i)) {
			t.Fatalf("record %d differs", i)
		}
	}
}

// Record files that do not follow one another make Open fail: a file cut
// at a frame boundary before another, one removed from the middle, or the
// first removed.
func TestRecordFilesGapsRefuseOpen(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, files []string)
	}{
		{"cut at a frame", func(t *testing.T, files []string) {
			data, err := os.ReadFile(files[1])
			if err != nil {
				t.Fatal(err)
			}
			_, n, err := parseFrame(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(files[1], data[:n], 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"middle removed", func(t *testing.T, files []string) { os.Remove(files[2]) }},
		{"first removed", func(t *testing.T, files []string) { os.Remove(files[0]) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			smallSegments(s)
			fillKilo(t, s, 40)
			s.Close()
			files := recordFileNames(t, dir)
			if len(files) < 4 {
				t.Fatalf("%d record files", len(files))
			}
			tc.damage(t, files)
			if s, err := Open(dir, Options{}); err == nil {
				s.Close()
				t.Fatal("opened")
			} else if !errors.Is(err, errDamaged) {
				t.Fatalf("open: %v, want errDamaged", err)
			}
		})
	}
}

// Reads beside prunes get the records asked for, or ErrNotFound for
// records pruned meanwhile: never empty records.
func TestRecordReadsBesidePrunes(t *testing.T) {
	s := openStore(t, "")
	smallSegments(s)
	fillKilo(t, s, 400)
	done := make(chan error, 1)
	go func() {
		for p := uint64(0); p+10 <= 390; p += 10 {
			if err := s.PruneLog(s.AppliedIndex()+1, p, p+10); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	reads, refused := 0, 0
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d reads, %d refused as pruned", reads, refused)
			return
		default:
		}
		lo := s.LogPruned()
		got, err := s.LogRecords(lo, lo+20)
		reads++
		if errors.Is(err, ErrNotFound) {
			refused++
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range got {
			if !bytes.Equal(r, kiloRecord(int(lo)+i)) {
				t.Fatalf("record %d read as %q", int(lo)+i, r)
			}
		}
	}
}

// streamOf builds a snapshot stream holding kvs, in order.
func streamOf(kvs ...[]byte) []byte {
	var b bytes.Buffer
	bw := bufio.NewWriter(&b)
	bw.WriteString(snapMagic)
	bw.Write(binary.BigEndian.AppendUint32(nil, snapVersion))
	for _, f := range kvs {
		writeField(bw, f)
	}
	bw.Write(make([]byte, 4))
	bw.Flush()
	sum := sha256.Sum256(b.Bytes())
	return append(b.Bytes(), sum[:]...)
}

// A snapshot whose records the record files would not take is refused
// before anything changes.
func TestRestoreRefusesBadRecords(t *testing.T) {
	key := func(pos uint64) []byte { return append([]byte(prefixLog), be64(pos)...) }
	for _, tc := range []struct {
		name string
		kvs  [][]byte
	}{
		{"out of order", [][]byte{key(3), []byte("a"), key(2), []byte("b"), []byte(keyApplied), be64(9)}},
		{"twice", [][]byte{key(3), []byte("a"), key(3), []byte("b"), []byte(keyApplied), be64(9)}},
		{"empty", [][]byte{key(3), {}, []byte(keyApplied), be64(9)}},
		{"before pruned", [][]byte{key(3), []byte("a"), []byte(keyApplied), be64(9), []byte(keyLogPruned), be64(5)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t, "")
			fillKilo(t, s, 4)
			digest := s.Digest()
			err := s.Restore(bytes.NewReader(streamOf(tc.kvs...)))
			if !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("restore: %v, want ErrInvalidSnapshot", err)
			}
			if s.Digest() != digest {
				t.Fatal("a refused snapshot changed the state")
			}
			if got, err := s.LogRecords(0, 4); err != nil || !bytes.Equal(got[3], kiloRecord(3)) {
				t.Fatalf("records after a refused restore: %v", err)
			}
		})
	}
}

// A restore cut short anywhere leaves a store that opens (empty, to be
// restored again), whatever the record files hold: the old ones (a crash
// right after the state was dropped) or some of the new ones (a crash
// before the new state was written). Here the logs are pruned, so the
// files do not begin at position 0.
func TestRestoreCutShortWithPrunedLog(t *testing.T) {
	src := openStore(t, "")
	smallSegments(src)
	fillKilo(t, src, 40)
	if err := src.PruneLog(src.AppliedIndex()+1, 0, 28); err != nil {
		t.Fatal(err)
	}
	snap := snapshotBytes(t, src)
	for _, restored := range []bool{false, true} {
		t.Run(fmt.Sprint("new records written ", restored), func(t *testing.T) {
			dir := t.TempDir()
			s := openStore(t, dir)
			smallSegments(s)
			fillKilo(t, s, 60)
			if err := s.PruneLog(s.AppliedIndex()+1, 0, 30); err != nil {
				t.Fatal(err)
			}
			if restored {
				if err := s.Restore(bytes.NewReader(snap)); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			// The database dropped, the record files as they were.
			db, err := badger.Open(badgerOptions(dir, false, testLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			err = db.DropAll()
			db.Close()
			if err != nil {
				t.Fatal(err)
			}
			s = openStore(t, dir)
			if s.AppliedIndex() != 0 || s.LogSize() != 0 || len(recordFileNames(t, dir)) != 0 {
				t.Fatalf("applied %d, size %d, %d record files; want an empty store", s.AppliedIndex(), s.LogSize(), len(recordFileNames(t, dir)))
			}
			if err := s.Restore(bytes.NewReader(snap)); err != nil {
				t.Fatal(err)
			}
			if s.Digest() != src.Digest() {
				t.Fatal("restored again: the state differs from the snapshot's")
			}
		})
	}
}

// A snapshot of a log whose last position has no record (removed behind
// its store's back) restores to a store that opens again, with the
// position empty.
func TestRestoreOfALogEndingInAGap(t *testing.T) {
	key := func(pos uint64) []byte { return append([]byte(prefixLog), be64(pos)...) }
	stream := streamOf(key(0), kiloRecord(0), key(1), kiloRecord(1), key(2), kiloRecord(2),
		[]byte(keyApplied), be64(9), []byte(keyLogSize), be64(4))
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.Restore(bytes.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openStore(t, dir)
	got, err := s.LogRecords(0, 4)
	if err != nil || s.LogSize() != 4 || len(got) != 4 || len(got[3]) != 0 || !bytes.Equal(got[2], kiloRecord(2)) {
		t.Fatalf("size %d, %d records (%v)", s.LogSize(), len(got), err)
	}
}
