package cluster

import (
	"fmt"
	"sync"

	"github.com/kmsd/kmsd/keystore"
)

// auditApplier writes audit batches to the store behind the state machine:
// the state machine queues a batch and takes the next entry at once, so
// raft hands it further entries (and proposers waiting in CommitAudit hear
// that theirs are committed) while earlier batches are being fsynced.
// Batches are written in log order, as many in one synced transaction as
// have arrived. Every other entry, a snapshot and a restore first wait until
// the queue is written (drain), so the store applies entries in log order
// and a snapshot holds everything raft counts as applied.
//
// The raft log, fsynced before an entry commits, keeps the batches until
// they are written: a node that stops before it wrote them applies them
// again when it restarts (the store's applied index says where to start).
type auditApplier struct {
	store *keystore.Store
	// written is called after each write (fsm.notifyApplied).
	written func()

	mu    sync.Mutex
	idle  *sync.Cond // broadcast when busy turns false
	queue []keystore.LogAppend
	busy  bool   // a goroutine is writing; the queue is empty otherwise
	size  uint64 // the log's size once every queued batch is written
}

func newAuditApplier(store *keystore.Store, written func()) *auditApplier {
	a := &auditApplier{store: store, written: written}
	a.idle = sync.NewCond(&a.mu)
	return a
}

// enqueue queues log entry e and returns what the store will answer for
// it: the position of its first record (0 for an entry applied before),
// or the keystore.ErrInvalidMutation that refuses it (the applied index
// still advances).
func (a *auditApplier) enqueue(e keystore.LogAppend) (uint64, error) {
	check := keystore.CheckLogAppend(e)
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.busy {
		a.size = a.store.LogSize()
	}
	var first uint64
	if check == nil && e.Index > a.store.AppliedIndex() {
		first = a.size
		a.size += uint64(len(e.Records))
	}
	a.queue = append(a.queue, e)
	if !a.busy {
		a.busy = true
		go a.run()
	}
	return first, check
}

func (a *auditApplier) run() {
	for {
		a.mu.Lock()
		batch := a.queue
		a.queue = nil
		if len(batch) == 0 {
			a.busy = false
			a.idle.Broadcast()
			a.mu.Unlock()
			return
		}
		a.mu.Unlock()
		if _, err := a.store.AppendLogs(batch); err != nil {
			// As for any entry the state machine cannot apply: this
			// node's state would diverge from the others'.
			panic(fmt.Sprintf("cluster: cannot apply indexes %d-%d: %v", batch[0].Index, batch[len(batch)-1].Index, err))
		}
		a.written()
	}
}

// drain returns once every queued batch is written.
func (a *auditApplier) drain() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for a.busy {
		a.idle.Wait()
	}
}
