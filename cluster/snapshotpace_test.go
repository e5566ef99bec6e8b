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
	// A state of about 1 MiB, in large entries: snapshots as configured.
	appendBatches(32, 8, 4<<10)
	waitFor(t, "a snapshot of the large state", func() bool { return statUint(t, tn.node, "last_snapshot_index") >= 16 })
	appendBatches(16, 8, 4<<10)
	waitFor(t, "a second snapshot", func() bool { return statUint(t, tn.node, "last_snapshot_index") >= 40 })
	list, err := tn.node.snaps.List()
	if err != nil || len(list) == 0 {
		t.Fatalf("snapshots: %v, %v", list, err)
	}
	snapBytes := list[0].Size

	// Small entries: the next snapshot waits for half the state's bytes.
	appendBatches(50, 1, 1<<10)
	waitFor(t, "the threshold to be paced", func() bool {
		return tn.node.raft.ReloadableConfig().SnapshotThreshold > 100
	})
	last := statUint(t, tn.node, "last_snapshot_index")
	appendBatches(150, 1, 1<<10)
	time.Sleep(10 * tn.cfg.SnapshotInterval)
	if got := statUint(t, tn.node, "last_snapshot_index"); got != last {
		t.Fatalf("a snapshot of %d bytes at index %d after %d bytes of entries since the last (threshold %d)",
			snapBytes, got, 150<<10, tn.node.raft.ReloadableConfig().SnapshotThreshold)
	}
	threshold := tn.node.raft.ReloadableConfig().SnapshotThreshold
	if want := uint64(snapBytes) / 2 / (1 << 10); threshold < want*3/4 || threshold > want*2 {
		t.Fatalf("threshold %d entries of about 1 KiB after a snapshot of %d bytes, want about %d", threshold, snapBytes, want)
	}
	// Once the log holds half the state, the next snapshot is taken.
	appendBatches(int(threshold), 1, 1<<10)
	waitFor(t, "a snapshot after half the state's bytes", func() bool {
		return statUint(t, tn.node, "last_snapshot_index") > last
	})
}
