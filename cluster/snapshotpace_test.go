package cluster

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPacedThreshold(t *testing.T) {
	const floor = 64 << 20
	for _, c := range []struct {
		name       string
		snapBytes  uint64
		entryBytes float64
		want       uint64
	}{
		{"no snapshot yet", 0, 10 << 10, 8192},
		{"a snapshot at the floor", floor, 1 << 10, 8192},
		{"entry sizes unknown", 1 << 30, 0, 8192},
		{"half the state in entries", 1 << 30, 10 << 10, 52428},
		{"small entries wait longer", 1 << 30, 1 << 10, 524288},
		{"never below the configured threshold", floor + 1, 64 << 10, 8192},
	} {
		if got := pacedThreshold(8192, c.snapBytes, floor, c.entryBytes); got != c.want {
			t.Errorf("%s: pacedThreshold = %d, want %d", c.name, got, c.want)
		}
	}
}

// A node whose snapshot is large waits for the log to hold half its size
// before the next snapshot, however low SnapshotThreshold is; then it
// takes one.
func TestSnapshotsArePacedByStateSize(t *testing.T) {
	tn := newTestNode(t)
	tn.cfg.SnapshotThreshold = 8
	tn.cfg.SnapshotInterval = 20 * time.Millisecond
	tn.cfg.TrailingLogs = 4
	tn.cfg.snapshotPaceFloor = 64 << 10
	tn.start()
	ctx := context.Background()
	seq := 0
	appendBatches := func(n, records, size int) {
		t.Helper()
		for range n {
			var recs [][]byte
			var ids []string
			for range records {
				seq++
				ids = append(ids, fmt.Sprintf("event-%06d", seq))
				recs = append(recs, []byte(strings.Repeat("r", size)))
			}
			if _, err := tn.node.AppendAudit(ctx, recs, ids, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A state of about 1.5 MiB, in large entries, and a snapshot of it.
	appendBatches(48, 8, 4<<10)
	if err := tn.node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	// Small entries: once the pacer has seen them, the threshold is the
	// number of them that hold half the snapshot's size.
	var snapBytes, want uint64
	paced := func() bool {
		list, err := tn.node.snaps.List()
		if err != nil || len(list) == 0 {
			t.Fatalf("snapshots: %v, %v", list, err)
		}
		snapBytes, want = uint64(list[0].Size), uint64(list[0].Size)/2/(1<<10)
		th := tn.node.raft.ReloadableConfig().SnapshotThreshold
		return th >= want*4/5 && th <= want*5/4
	}
	// More than paceMinEntries of them first: a threshold from another
	// estimate must not pass for the paced one.
	appendBatches(paceMinEntries+8, 1, 1<<10)
	for i := 0; !paced(); i++ {
		if i == 50 {
			t.Fatalf("threshold %d after 500 entries of 1 KiB and a snapshot of %d bytes, want about %d",
				tn.node.raft.ReloadableConfig().SnapshotThreshold, snapBytes, want)
		}
		appendBatches(10, 1, 1<<10)
		time.Sleep(tn.cfg.SnapshotInterval)
	}
	if want < 400 {
		t.Fatalf("a snapshot of %d bytes; the test needs a larger state", snapBytes)
	}
	// A snapshot of our own: none is in flight from before the threshold
	// was paced.
	appendBatches(1, 1, 1<<10)
	if err := tn.node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	last := statUint(t, tn.node, "last_snapshot_index")
	threshold := tn.node.raft.ReloadableConfig().SnapshotThreshold
	if m := tn.node.Metrics(); m.SnapshotThreshold != threshold {
		t.Errorf("Metrics().SnapshotThreshold = %d, raft has %d", m.SnapshotThreshold, threshold)
	}
	appendBatches(150, 1, 1<<10)
	time.Sleep(10 * tn.cfg.SnapshotInterval)
	if got := statUint(t, tn.node, "last_snapshot_index"); got != last {
		t.Fatalf("a snapshot at index %d after 150 entries of 1 KiB since the threshold was paced, the last of %d bytes (threshold %d)",
			got, snapBytes, tn.node.raft.ReloadableConfig().SnapshotThreshold)
	}
	// Once the log holds half the state, the next snapshot is taken.
	appendBatches(int(threshold), 1, 1<<10)
	waitFor(t, "a snapshot after half the state's bytes", func() bool {
		return statUint(t, tn.node, "last_snapshot_index") > last
	})
	// A node that restarts paces from the entries in its log, before any
	// new one.
	tn.restart()
	waitFor(t, "the threshold to be paced after a restart", paced)
}
