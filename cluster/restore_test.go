package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/keystore"
)

// Restore installs a snapshot at the index it gave the stream, one restore
// at a time: of two at once, one succeeds and the other is refused with
// ErrRestoring, and the store's applied index is raft's snapshot index
// (what makes members that have not installed it wait for it). The state
// is the snapshot's, and survives a restart.
func TestRestoreOneAtATime(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	tn.createKeys(0, 5)
	sn, err := tn.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	sn.Release()
	snap := buf.Bytes()
	tn.createKeys(5, 5) // after the "backup"

	size, err := keystore.ReindexSnapshot(io.Discard, bytes.NewReader(snap), 1, tn.store.Members())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	idx := make([]uint64, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			idx[i], errs[i] = tn.node.Restore(context.Background(), size, func(w io.Writer, index uint64) error {
				_, err := keystore.ReindexSnapshot(w, bytes.NewReader(snap), index, tn.store.Members())
				return err
			})
		})
	}
	wg.Wait()
	ok, refused := 0, 0
	var index uint64
	for i := range 2 {
		switch {
		case errs[i] == nil:
			ok++
			index = idx[i]
		case errors.Is(errs[i], ErrRestoring):
			refused++
		default:
			t.Fatalf("restore %d: %v", i, errs[i])
		}
	}
	if ok < 1 || ok+refused != 2 {
		t.Fatalf("of two restores at once: %d succeeded, %d refused (%v)", ok, refused, errs)
	}
	if got := tn.node.lastSnapshotIndex(); got != index || tn.store.AppliedIndex() < index {
		t.Fatalf("restored at %d: raft's snapshot index %d, store applied %d", index, got, tn.store.AppliedIndex())
	}
	if _, err := tn.store.Key("key-0007"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("a key made after the backup is still there: %v", err)
	}
	for i := range 5 {
		if _, err := tn.store.Key(fmt.Sprintf("key-%04d", i)); err != nil {
			t.Fatalf("key %d of the backup: %v", i, err)
		}
	}
	if err := tn.node.ReadBarrier(context.Background()); err != nil {
		t.Fatalf("reads after the restore: %v", err)
	}
	tn.restart()
	if tn.store.AppliedIndex() < index {
		t.Fatalf("after a restart the store is at %d, below the restore's %d", tn.store.AppliedIndex(), index)
	}
	for i := range 5 {
		if _, err := tn.store.Key(fmt.Sprintf("key-%04d", i)); err != nil {
			t.Fatalf("after a restart, key %d of the backup: %v", i, err)
		}
	}
	tn.createKeys(10, 1) // the cluster goes on
}

// snapshotOf returns a snapshot stream of tn's store.
func snapshotOf(t *testing.T, tn *testNode) []byte {
	t.Helper()
	sn, err := tn.store.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer sn.Release()
	var buf bytes.Buffer
	if _, err := sn.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// restoreWith restores snap on tn, the stream written after delay.
func restoreWith(ctx context.Context, tn *testNode, snap []byte, delay time.Duration) (uint64, error) {
	size, err := keystore.ReindexSnapshot(io.Discard, bytes.NewReader(snap), 1, tn.store.Members())
	if err != nil {
		return 0, err
	}
	return tn.node.Restore(ctx, size, func(w io.Writer, index uint64) error {
		time.Sleep(delay)
		_, err := keystore.ReindexSnapshot(w, bytes.NewReader(snap), index, tn.store.Members())
		return err
	})
}

// A caller that stops waiting does not stop the restore: reads are refused
// while raft installs it (and another restore too), and once it has, reads
// are served again, with the restored state.
func TestRestoreOutlivesItsCaller(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	tn.createKeys(0, 3)
	snap := snapshotOf(t, tn)
	tn.createKeys(3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := restoreWith(ctx, tn, snap, 600*time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("restore past its caller's deadline: %v, want ErrTimeout", err)
	}
	if err := tn.node.ReadBarrier(context.Background()); !errors.Is(err, ErrRestoring) {
		t.Fatalf("reads while the restore is installed: %v, want ErrRestoring", err)
	}
	if _, err := restoreWith(context.Background(), tn, snap, 0); !errors.Is(err, ErrRestoring) {
		t.Fatalf("a second restore while the first runs: %v, want ErrRestoring", err)
	}
	waitFor(t, "the restore to finish", func() bool { return tn.node.ReadBarrier(context.Background()) == nil })
	if _, err := tn.store.Key("key-0004"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("a key made after the backup is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(tn.cfg.Dir, unconfirmedFile)); !os.IsNotExist(err) {
		t.Fatalf("the restore's marker is still there: %v", err)
	}
}

// A node that stopped during a restore whose outcome it never learned (its
// marker is there at start) refuses reads until a restore succeeds.
func TestUnconfirmedRestoreRefusesReads(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	tn.createKeys(0, 3)
	snap := snapshotOf(t, tn)
	tn.stop()
	if err := writeMarker(filepath.Join(tn.cfg.Dir, unconfirmedFile)); err != nil {
		t.Fatal(err)
	}
	tn.start()
	if err := tn.node.ReadBarrier(context.Background()); !errors.Is(err, ErrRestoring) {
		t.Fatalf("reads after a restart with an unconfirmed restore: %v, want ErrRestoring", err)
	}
	// Right after the election raft may refuse it until its configuration
	// entry is applied (ErrRestoring, retry).
	var err error
	waitFor(t, "a restore that succeeds", func() bool {
		_, err = restoreWith(context.Background(), tn, snap, 0)
		return !errors.Is(err, ErrRestoring)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tn.node.ReadBarrier(context.Background()); err != nil {
		t.Fatalf("reads after the restore ran again: %v", err)
	}
	tn.restart()
	if err := tn.node.ReadBarrier(context.Background()); err != nil {
		t.Fatalf("reads after another restart: %v", err)
	}
}
