package cluster

import (
	"time"

	"github.com/hashicorp/raft"
)

// Snapshot pacing. Raft snapshots the state machine once SnapshotThreshold
// entries have been appended to the log since the last snapshot (it checks
// every SnapshotInterval), and every snapshot writes the whole state, the
// audit log included. Under a steady stream of audit batches a fixed
// threshold therefore writes the whole, growing state again every few
// minutes: what snapshots write grows with the square of the time a node
// has run, and a state of tens of GiB cannot be written again as fast as
// the threshold asks.
//
// A node paces its snapshots instead. Once its latest snapshot is larger
// than snapshotPaceFloor, it raises raft's threshold so that the log since
// that snapshot holds half as many bytes as the snapshot before the next
// one is taken (never fewer entries than Config.SnapshotThreshold): the
// bytes snapshots write stay within twice the bytes written to the log,
// and the log on disk grows to about half the state (plus TrailingLogs
// entries) before it is compacted. Entry sizes are taken from the entries
// the log stored since the last estimate (at least paceMinEntries), or, on
// a node that has just started, from the last entries in its log.
const snapshotPaceFloor = 64 << 20

// paceMinEntries is how many entries the average entry size is taken over,
// at least (entries stored since the last estimate).
const paceMinEntries = 64

// pacedThreshold returns the number of entries, each entryBytes long on
// average, that hold half of snapBytes, and at least min; min when the
// snapshot is no larger than floor.
func pacedThreshold(min, snapBytes, floor uint64, entryBytes float64) uint64 {
	if snapBytes <= floor || entryBytes <= 0 {
		return min
	}
	return max(min, uint64(float64(snapBytes)/2/entryBytes))
}

// paceSnapshots adjusts raft's snapshot threshold every half
// SnapshotInterval until the node shuts down.
func (n *Node) paceSnapshots(snaps raft.SnapshotStore) {
	rc := n.raft.ReloadableConfig()
	minEntries, threshold := rc.SnapshotThreshold, rc.SnapshotThreshold
	floor := uint64(snapshotPaceFloor)
	if n.cfg.snapshotPaceFloor != 0 {
		floor = n.cfg.snapshotPaceFloor
	}
	t := time.NewTicker(max(rc.SnapshotInterval/2, time.Millisecond))
	defer t.Stop()
	var entries, bytes uint64
	var entryBytes float64
	// Until it has seen new entries, a node that restarts takes the size
	// of the last ones in its log.
	if e, b := n.logs.tailSize(paceMinEntries); e > 0 {
		entryBytes = float64(b) / float64(e)
	}
	for {
		select {
		case <-n.shutdownCh:
			return
		case <-t.C:
		}
		// The average over at least paceMinEntries entries: a period
		// with a leader's no-op alone says nothing of the workload.
		if e, b := n.logs.stored(); e-entries >= paceMinEntries {
			entryBytes = float64(b-bytes) / float64(e-entries)
			entries, bytes = e, b
		}
		list, err := snaps.List()
		if err != nil || len(list) == 0 {
			continue
		}
		want := pacedThreshold(minEntries, uint64(list[0].Size), floor, entryBytes)
		// Changes under an eighth are not worth a reload.
		if diff := max(want, threshold) - min(want, threshold); diff == 0 || (diff < threshold/8 && want != minEntries) {
			continue
		}
		rc := n.raft.ReloadableConfig()
		rc.SnapshotThreshold = want
		if err := n.raft.ReloadConfig(rc); err != nil {
			n.log.Warn("raft snapshot threshold not changed", "entries", want, "err", err)
			continue
		}
		n.log.Info("raft snapshot threshold paced to the state's size", "entries", want,
			"snapshot_bytes", list[0].Size, "entry_bytes", int64(entryBytes))
		threshold = want
	}
}
