package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func populate(t *testing.T, s *Store) {
	t.Helper()
	for i := range 30 {
		createKey(t, s, testKey(fmt.Sprintf("key-%02d", i)))
	}
	mustApply(t, s, &Mutation{Op: OpCreateAlias, AliasName: "alias/x", KeyID: "key-01", Time: t0})
	mustApply(t, s, &Mutation{Op: OpTagResource, KeyID: "key-02", Tags: []Tag{{"env", "prod"}}})
	mustApply(t, s, &Mutation{Op: OpScheduleKeyDeletion, KeyID: "key-03", DeletionDate: t0, PendingWindowInDays: 7})
}

func snapshotBytes(t *testing.T, s *Store) []byte {
	t.Helper()
	sn, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	n, err := sn.WriteTo(&buf)
	if err != nil || n != int64(buf.Len()) {
		t.Fatalf("WriteTo = %d, %v (wrote %d)", n, err, buf.Len())
	}
	return buf.Bytes()
}

func TestSnapshotRestore(t *testing.T) {
	src := openStore(t, "")
	populate(t, src)
	sn, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want := src.Digest()
	// Changes after Snapshot are not in it: the transaction pins the state.
	mustApply(t, src, &Mutation{Op: OpDisableKey, KeyID: "key-00"})
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Release()

	dir := t.TempDir()
	dst := openStore(t, dir)
	createKey(t, dst, testKey("to-be-dropped"))
	if err := dst.Restore(&buf); err != nil {
		t.Fatal(err)
	}
	if dst.Digest() != want {
		t.Error("restored digest differs")
	}
	if dst.AppliedIndex() != src.AppliedIndex()-1 {
		t.Errorf("applied index = %d, want %d", dst.AppliedIndex(), src.AppliedIndex()-1)
	}
	if _, err := dst.Key("to-be-dropped"); !errors.Is(err, ErrNotFound) {
		t.Errorf("old state survived Restore: %v", err)
	}
	dst.Close()
	if reopened := openStore(t, dir); reopened.Digest() != want {
		t.Error("restored state did not survive a restart")
	}
}

func TestRestoreRefusesCorruptSnapshot(t *testing.T) {
	src := openStore(t, "")
	populate(t, src)
	good := snapshotBytes(t, src)
	tests := []struct {
		name   string
		mangle func([]byte) []byte
	}{
		{"empty", func([]byte) []byte { return nil }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"no checksum", func(b []byte) []byte { return b[:len(b)-32] }},
		{"flipped bit", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"bad checksum", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }},
		{"bad magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"huge length", func(b []byte) []byte { copy(b[12:], []byte{0xff, 0xff, 0xff, 0xff}); return b }},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d:%s", i, tt.name), func(t *testing.T) {
			dst := openStore(t, "")
			createKey(t, dst, testKey("keep"))
			before := dst.Digest()
			err := dst.Restore(bytes.NewReader(tt.mangle(bytes.Clone(good))))
			if !errors.Is(err, ErrInvalidSnapshot) {
				t.Fatalf("Restore = %v, want ErrInvalidSnapshot", err)
			}
			if dst.Digest() != before {
				t.Error("a refused snapshot changed the state")
			}
		})
	}
}

func TestDigestDependsOnState(t *testing.T) {
	a, b := openStore(t, ""), openStore(t, "")
	populate(t, a)
	populate(t, b)
	if a.Digest() != b.Digest() {
		t.Fatal("same log, different digests")
	}
	mustApply(t, b, &Mutation{Op: OpUpdateDescription, KeyID: "key-00", Description: "x"})
	mustApply(t, a, &Mutation{Op: OpUpdateDescription, KeyID: "key-00", Description: "y"})
	if a.Digest() == b.Digest() {
		t.Fatal("different states, same digest")
	}
}
