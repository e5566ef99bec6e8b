package cluster

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/keystore"
)

// TestStorageCheckRefusesProposals: while Config.StorageCheck reports the
// data directory nearly full, commands are refused with ErrStorageFull
// before they reach the log (the log's last index does not move); once it
// reports space again, they are proposed as before.
func TestStorageCheckRefusesProposals(t *testing.T) {
	var full atomic.Bool
	tn := newTestNode(t)
	tn.cfg.StorageCheck = func() error {
		if full.Load() {
			return ErrStorageFull
		}
		return nil
	}
	tn.start()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := tn.apply(&keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: &keystore.Key{ID: "before", State: keystore.Enabled}}); err != nil {
		t.Fatal(err)
	}
	// The new leader's barrier (an entry of raft's own) is in the log
	// before the last index is taken.
	if _, err := tn.node.leaderReadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	full.Store(true)
	last := tn.node.raft.LastIndex()
	for i := range 20 {
		err := tn.apply(&keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: &keystore.Key{ID: "refused", State: keystore.Enabled}})
		if !errors.Is(err, ErrStorageFull) {
			t.Fatalf("proposal %d with the disk nearly full: %v, want ErrStorageFull", i, err)
		}
	}
	if got := tn.node.raft.LastIndex(); got != last {
		t.Fatalf("the log grew from %d to %d while the disk was nearly full", last, got)
	}
	if _, err := tn.store.Key("refused"); !errors.Is(err, keystore.ErrNotFound) {
		t.Fatalf("a refused key exists: %v", err)
	}
	// Audit records still go in: calls let in before the disk ran low may
	// have made changes, and their records must not be lost.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := tn.node.AppendAudit(ctx, [][]byte{[]byte(`{"r":1}`)}, []string{"ev-1"}, [][]byte{[]byte("mac")}); err != nil {
		t.Fatalf("an audit record with the disk nearly full: %v", err)
	}
	full.Store(false)
	if err := tn.apply(&keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: &keystore.Key{ID: "after", State: keystore.Enabled}}); err != nil {
		t.Fatalf("once space is back: %v", err)
	}
	if got := errorKind(ErrStorageFull); got != "storage_full" || !errors.Is(kindError(got, "x"), ErrStorageFull) {
		t.Fatalf("ErrStorageFull does not cross a forward: kind %q", got)
	}
}
