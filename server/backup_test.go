package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
)

// backupOf writes a backup of a store holding n keys.
func backupOf(t *testing.T, root envelope.Key, n int) ([]byte, *keystore.Store) {
	t.Helper()
	store, err := keystore.Open(filepath.Join(t.TempDir(), "state"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		k := &keystore.Key{ID: "key-" + string(rune('a'+i)), State: keystore.Enabled, Origin: keystore.OriginAWSKMS, CreationDate: now,
			Versions: []keystore.Version{{MaterialID: "m", Wrapped: []byte("sealed"), CreationDate: now}}}
		if err := store.Apply(uint64(i+1), &keystore.Mutation{Op: keystore.OpCreateKey, Time: now, Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	snap, err := store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var buf bytes.Buffer
	if err := WriteBackup(&buf, snap, root, BackupHeader{CreatedAt: now, NodeID: "backup-node-1"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), store
}

// TestBackupRoundTrip: a backup restores into an empty store with the root
// key that made it, to the same state; with another root key, or changed
// in any byte, cut short or extended, it is refused before anything is
// used; nothing of the state can be read in the file.
func TestBackupRoundTrip(t *testing.T) {
	root, _ := envelope.GenerateKey(rand.Reader)
	b, orig := backupOf(t, root, 5)
	for _, clear := range []string{"key-a", "key-e", "sealed", `"nodeId"`, "backup-node-1"} {
		if bytes.Contains(b, []byte(clear)) {
			t.Fatalf("the backup shows %q in the clear", clear)
		}
	}
	if b2, _ := backupOf(t, root, 5); bytes.Equal(b[len(backupMagic):len(backupMagic)+200], b2[len(backupMagic):len(backupMagic)+200]) {
		t.Fatal("two backups of the same state begin alike: no fresh key or message id")
	}
	if _, _, err := OpenBackup(bytes.NewReader(append(bytes.Clone(b), 0)), root); !errors.Is(err, ErrBackup) {
		t.Fatalf("a byte added at the end: %v", err)
	}
	h, stream, err := OpenBackup(bytes.NewReader(b), root)
	if err != nil {
		t.Fatal(err)
	}
	if h.AppliedIndex != 5 || h.NodeID != "backup-node-1" || h.RootKeyFingerprint != envelope.RootKeyFingerprint(root) {
		t.Fatalf("header %+v", h)
	}
	dst, err := keystore.Open(filepath.Join(t.TempDir(), "state"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	if err := dst.Restore(stream); err != nil {
		t.Fatal(err)
	}
	if dst.Digest() != orig.Digest() || dst.AppliedIndex() != 5 {
		t.Fatal("the restored state differs from the original")
	}

	other, _ := envelope.GenerateKey(rand.Reader)
	if _, _, err := OpenBackup(bytes.NewReader(b), other); !errors.Is(err, ErrBackup) {
		t.Fatalf("another root key: %v", err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 1 << (i % 8)
		if _, _, err := OpenBackup(bytes.NewReader(c), root); !errors.Is(err, ErrBackup) {
			t.Fatalf("byte %d of %d flipped: %v", i, len(b), err)
		}
	}
	for _, n := range []int{0, 1, 8, 12, len(b) / 2, len(b) - 1} {
		if _, _, err := OpenBackup(bytes.NewReader(b[:n]), root); err == nil {
			t.Fatalf("cut to %d bytes: accepted", n)
		}
	}
}

// FuzzOpenBackup: no input makes OpenBackup panic, and none but a file made
// with the root key opens.
func FuzzOpenBackup(f *testing.F) {
	root, err := envelope.KeyFromBytes(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(backupMagic))
	f.Add(append([]byte(backupMagic), make([]byte, 64)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, r, err := OpenBackup(bytes.NewReader(b), root)
		if err == nil {
			// Only a MAC under root opens: impossible to hit by chance.
			io.Copy(io.Discard, r)
			t.Fatalf("random input opened as a backup: %+v", h)
		}
	})
}
