package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

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

	size, err := tn.store.ReindexSnapshot(io.Discard, bytes.NewReader(snap), 1)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	idx := make([]uint64, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() {
			idx[i], errs[i] = tn.node.Restore(context.Background(), size, func(w io.Writer, index uint64) error {
				_, err := tn.store.ReindexSnapshot(w, bytes.NewReader(snap), index)
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
