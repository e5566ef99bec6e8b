package keystore

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// TestSyncWrites is D1: every commit is fsynced before Apply returns.
func TestSyncWrites(t *testing.T) {
	if s := openStore(t, ""); !s.SyncWrites() {
		t.Fatal("store opened without SyncWrites")
	}
}

func TestApplyIdempotentReplay(t *testing.T) {
	s := openStore(t, "")
	create := &Mutation{Op: OpCreateKey, Time: t0, Key: testKey("k1")}
	if err := s.Apply(5, create); err != nil {
		t.Fatal(err)
	}
	d := s.Digest()
	for _, index := range []uint64{5, 4, 1} {
		if err := s.Apply(index, create); err != nil {
			t.Errorf("replay of index %d: %v", index, err)
		}
	}
	if s.Digest() != d || s.AppliedIndex() != 5 {
		t.Errorf("replay changed the state (applied index %d)", s.AppliedIndex())
	}
	// A replayed refused mutation is skipped too, not refused again.
	if err := s.Apply(5, &Mutation{Op: "bogus"}); err != nil {
		t.Errorf("replay of a bad mutation: %v", err)
	}
}

func TestRestartRecoversEverything(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		createKey(t, s, testKey(fmt.Sprintf("key-%02d", i)))
	}
	mustApply(t, s, &Mutation{Op: OpCreateAlias, Time: t0, AliasName: "alias/a", KeyID: "key-03"})
	mustApply(t, s, &Mutation{Op: OpDisableKey, Time: t0, KeyID: "key-04"})
	mustApply(t, s, &Mutation{Op: OpTagResource, Time: t0, KeyID: "key-05", Tags: []Tag{{"k", "v"}}})
	mustApply(t, s, &Mutation{Op: OpScheduleKeyDeletion, Time: t0, KeyID: "key-06", DeletionDate: t0})
	mustApply(t, s, &Mutation{Op: OpDeleteKey, Time: t0, KeyID: "key-06"})
	want, wantState, wantIndex := s.Digest(), stateJSON(t, s), s.AppliedIndex()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir)
	if s.Digest() != want || s.AppliedIndex() != wantIndex {
		t.Errorf("after restart: applied index %d (want %d), digest differs: %v",
			s.AppliedIndex(), wantIndex, s.Digest() != want)
	}
	if got := stateJSON(t, s); got != wantState {
		t.Errorf("after restart:\n%s\nwant\n%s", got, wantState)
	}
	if k := mustKey(t, s, "key-04"); k.State != Disabled {
		t.Errorf("key-04 state = %s", k.State)
	}
}

// TestOpenLoadsManyKeysQuickly writes 10,000 keys directly (applying them
// one fsync at a time would take long) and measures Open.
func TestOpenLoadsManyKeysQuickly(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 10,000 keys")
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	wb := s.db.NewWriteBatch()
	for i := range 10000 {
		k := testKey(fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i))
		k.Versions[0].Wrapped = make([]byte, 60)
		b, _ := json.Marshal(k)
		if err := wb.Set([]byte(prefixKey+k.ID), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := wb.Flush(); err != nil {
		t.Fatal(err)
	}
	s.Close()

	start := time.Now()
	s = openStore(t, dir)
	elapsed := time.Since(start)
	t.Logf("opened 10,000 keys in %v", elapsed)
	if s.KeyCount() != 10000 {
		t.Fatalf("KeyCount = %d", s.KeyCount())
	}
	if elapsed > time.Second {
		t.Errorf("Open took %v with 10,000 keys", elapsed)
	}
}

func TestOpenRefusesUnknownRecord(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	err := s.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("x/odd"), []byte("1")) })
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(dir, Options{}); err == nil {
		s.Close()
		t.Fatal("Open accepted an unknown record")
	}
}

func TestKeyIsHotPath(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("k1"))
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := s.Key("k1"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Key allocates %v times", allocs)
	}
}
