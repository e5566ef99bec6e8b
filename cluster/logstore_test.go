package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func openLogStore(t *testing.T, dir string) *LogStore {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := OpenLogStore(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testLog(index uint64) *raft.Log {
	return &raft.Log{
		Index:      index,
		Term:       index/10 + 1,
		Type:       raft.LogCommand,
		Data:       fmt.Appendf(nil, "entry %d", index),
		Extensions: []byte{byte(index)},
		AppendedAt: time.Unix(1700000000, int64(index)),
	}
}

func storeRange(t *testing.T, s *LogStore, from, to uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := from; i <= to; i++ {
		logs = append(logs, testLog(i))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

func wantBounds(t *testing.T, s *LogStore, first, last uint64) {
	t.Helper()
	f, _ := s.FirstIndex()
	l, _ := s.LastIndex()
	if f != first || l != last {
		t.Errorf("bounds = %d-%d, want %d-%d", f, l, first, last)
	}
}

// TestLogStoreSyncWrites is D1 for the raft log and stable store.
func TestLogStoreSyncWrites(t *testing.T) {
	if !openLogStore(t, "").SyncWrites() {
		t.Fatal("log store opened without SyncWrites")
	}
}

func TestLogStoreEmpty(t *testing.T) {
	s := openLogStore(t, "")
	wantBounds(t, s, 0, 0)
	var l raft.Log
	if err := s.GetLog(1, &l); err != raft.ErrLogNotFound {
		t.Errorf("GetLog on empty store = %v", err)
	}
}

func TestLogStoreStoreGet(t *testing.T) {
	s := openLogStore(t, "")
	if err := s.StoreLog(testLog(1)); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 2, 300)
	wantBounds(t, s, 1, 300)
	for _, i := range []uint64{1, 2, 255, 256, 300} {
		var got raft.Log
		if err := s.GetLog(i, &got); err != nil {
			t.Fatalf("GetLog(%d): %v", i, err)
		}
		want := testLog(i)
		if got.Index != want.Index || got.Term != want.Term || got.Type != want.Type ||
			!bytes.Equal(got.Data, want.Data) || !bytes.Equal(got.Extensions, want.Extensions) ||
			!got.AppendedAt.Equal(want.AppendedAt) {
			t.Errorf("GetLog(%d) = %+v, want %+v", i, got, want)
		}
	}
	var l raft.Log
	if err := s.GetLog(301, &l); err != raft.ErrLogNotFound {
		t.Errorf("GetLog(301) = %v", err)
	}
}

func TestLogStoreZeroValues(t *testing.T) {
	s := openLogStore(t, "")
	if err := s.StoreLog(&raft.Log{Index: 1, Term: 1, Type: raft.LogNoop}); err != nil {
		t.Fatal(err)
	}
	var got raft.Log
	if err := s.GetLog(1, &got); err != nil {
		t.Fatal(err)
	}
	if got.Data != nil || got.Extensions != nil || !got.AppendedAt.IsZero() || got.Type != raft.LogNoop {
		t.Errorf("GetLog(1) = %+v", got)
	}
}

func TestLogStoreDeleteRange(t *testing.T) {
	tests := []struct {
		min, max    uint64
		first, last uint64
	}{
		{1, 10, 11, 100},   // compaction from the head
		{50, 100, 1, 49},   // truncation of the tail
		{1, 100, 0, 0},     // everything
		{20, 30, 1, 100},   // a hole (raft never makes one, but bounds stay right)
		{200, 300, 1, 100}, // nothing there
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d:%d-%d", i, tt.min, tt.max), func(t *testing.T) {
			s := openLogStore(t, "")
			storeRange(t, s, 1, 100)
			if err := s.DeleteRange(tt.min, tt.max); err != nil {
				t.Fatal(err)
			}
			wantBounds(t, s, tt.first, tt.last)
			var l raft.Log
			for _, idx := range []uint64{tt.min, tt.max} {
				if err := s.GetLog(idx, &l); err != raft.ErrLogNotFound {
					t.Errorf("GetLog(%d) after delete = %v", idx, err)
				}
			}
			if tt.min > 1 && tt.min <= 100 {
				if err := s.GetLog(tt.min-1, &l); err != nil {
					t.Errorf("GetLog(%d) = %v", tt.min-1, err)
				}
			}
		})
	}
}

func TestLogStoreStoreAfterDeleteAll(t *testing.T) {
	s := openLogStore(t, "")
	storeRange(t, s, 1, 10)
	if err := s.DeleteRange(1, 10); err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 11, 12)
	wantBounds(t, s, 11, 12)
}

func TestLogStoreReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenLogStore(dir, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 5, 50)
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openLogStore(t, dir)
	wantBounds(t, s, 5, 50)
	if v, err := s.GetUint64([]byte("CurrentTerm")); v != 7 || err != nil {
		t.Errorf("GetUint64 after reopen = %d, %v", v, err)
	}
}

// TestLogStoreLargeBatch stores more than fits in one Badger transaction.
func TestLogStoreLargeBatch(t *testing.T) {
	s := openLogStore(t, "")
	var logs []*raft.Log
	for i := uint64(1); i <= 40; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: 1, Data: bytes.Repeat([]byte{byte(i)}, 64<<10)})
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 40)
	var got raft.Log
	if err := s.GetLog(40, &got); err != nil || len(got.Data) != 64<<10 {
		t.Errorf("GetLog(40) = %d bytes, %v", len(got.Data), err)
	}
}

// TestStableStore follows hashicorp/raft's contract: a missing key is an
// error whose text is exactly "not found", and GetUint64 then returns 0.
func TestStableStore(t *testing.T) {
	s := openLogStore(t, "")
	if v, err := s.Get([]byte("missing")); v != nil || err == nil || err.Error() != "not found" {
		t.Errorf("Get(missing) = %q, %v", v, err)
	}
	if v, err := s.GetUint64([]byte("missing")); v != 0 || err == nil || err.Error() != "not found" {
		t.Errorf("GetUint64(missing) = %d, %v", v, err)
	}
	if !errors.Is(func() error { _, err := s.Get([]byte("x")); return err }(), ErrKeyNotFound) {
		t.Error("Get(missing) is not ErrKeyNotFound")
	}
	if err := s.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("k")); string(v) != "v" || err != nil {
		t.Errorf("Get(k) = %q, %v", v, err)
	}
	if err := s.SetUint64([]byte("n"), 1<<40); err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetUint64([]byte("n")); v != 1<<40 || err != nil {
		t.Errorf("GetUint64(n) = %d, %v", v, err)
	}
	// Stable keys and log entries do not collide.
	storeRange(t, s, 1, 3)
	wantBounds(t, s, 1, 3)
}

func TestLogCodecRejectsGarbage(t *testing.T) {
	good := encodeLog(testLog(3))
	for i, b := range [][]byte{nil, {0}, {2}, good[:len(good)-1], append(bytes.Clone(good), 0)} {
		var l raft.Log
		if err := decodeLog(3, b, &l); err == nil {
			t.Errorf("Test %d: decodeLog(%x) accepted", i, b)
		}
	}
}

// TestLogStoreAfterClose: raft's transport can hand a heartbeat to a node
// that is shutting down after its log store closed, and raft panics if it
// cannot record the heartbeat's newer term. After Close the store answers
// without touching the database: Set does nothing, reads find nothing,
// log writes fail.
func TestLogStoreAfterClose(t *testing.T) {
	s, err := OpenLogStore(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Errorf("SetUint64 after Close: %v", err)
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil {
		t.Error("GetUint64 after Close found a value")
	}
	var l raft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Errorf("GetLog after Close: %v", err)
	}
	if err := s.StoreLogs([]*raft.Log{{Index: 2, Term: 1}}); err == nil {
		t.Error("StoreLogs after Close succeeded")
	}
	if err := s.DeleteRange(1, 1); err == nil {
		t.Error("DeleteRange after Close succeeded")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
