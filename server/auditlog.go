package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/keystore"
)

// AuditStore is the read side of the replicated audit log.
type AuditStore interface {
	LogSize() uint64
	LogHeadCount() uint64
	GetLogKey() (keystore.LogKey, bool)
	LogRecords(lo, hi uint64) ([][]byte, error)
	LogHeads(lo, hi uint64) ([][]byte, error)
	LogPosition(eventID string) (uint64, bool, error)
	LogPruned() uint64
	LogMACs(lo, hi uint64) ([][]byte, error)
	SetLogObserver(keystore.LogObserver)
}

// AuditProposer commits to the replicated audit log.
type AuditProposer interface {
	// AppendAudit commits records as one log entry and returns the
	// position of the first.
	// macs[i] authenticates records[i].
	AppendAudit(ctx context.Context, records [][]byte, ids []string, macs [][]byte) (uint64, error)
	// AppendAuditHead commits signed tree head number seq.
	AppendAuditHead(ctx context.Context, seq uint64, head []byte) error
	// SetAuditKey commits the signing key if none is stored.
	SetAuditKey(ctx context.Context, k keystore.LogKey) error
	// PruneAudit commits the removal of records [from, upTo).
	PruneAudit(ctx context.Context, from, upTo uint64) error
}

// auditCommitter is an AuditProposer that can acknowledge records once
// they are committed, before this node applies them (cluster.Node): the
// writer then uses CommitAudit, and readers of the log call AuditBarrier
// first, so that they find every record acknowledged before.
type auditCommitter interface {
	CommitAudit(ctx context.Context, records [][]byte, ids []string, macs [][]byte) error
	AuditBarrier(ctx context.Context) error
}

// AuditLog follows the replicated audit log on this node: it keeps the
// Merkle tree of every committed record in memory and wakes the readers
// that wait for new records. Open it before the Raft node starts applying
// entries, so that it sees every record.
type AuditLog struct {
	store AuditStore

	mu      sync.Mutex
	tree    audit.Tree
	changed chan struct{} // closed and replaced whenever the tree grows
	err     error         // a failed rebuild; the log is unusable
}

// OpenAuditLog reads every record of store into the tree and follows the
// records committed from then on.
func OpenAuditLog(store AuditStore) (*AuditLog, error) {
	l := &AuditLog{store: store, changed: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	store.SetLogObserver(keystore.LogObserver{Appended: l.appended, Reset: l.reset})
	if err := l.rebuildLocked(); err != nil {
		return nil, err
	}
	return l, nil
}

// rebuildChunk is how many records a rebuild reads at a time.
const rebuildChunk = 4096

func (l *AuditLog) rebuildLocked() error {
	l.tree = audit.Tree{}
	n := l.store.LogSize()
	pruned := l.store.LogPruned()
	if err := l.prunedLeavesLocked(pruned); err != nil {
		return err
	}
	for lo := pruned; lo < n; lo += rebuildChunk {
		recs, err := l.store.LogRecords(lo, min(lo+rebuildChunk, n))
		if err != nil {
			return fmt.Errorf("server: read audit log: %w", err)
		}
		for _, r := range recs {
			l.tree.Append(audit.LeafHash(r))
		}
	}
	l.notifyLocked()
	return nil
}

// prunedLeavesLocked appends the leaf hashes of the records removed by
// retention, which the signed heads that cover them carry.
func (l *AuditLog) prunedLeavesLocked(pruned uint64) error {
	for seq := uint64(0); uint64(l.tree.Size()) < pruned; seq++ {
		raw, err := l.store.LogHeads(seq, seq+1)
		if err != nil {
			return fmt.Errorf("server: read audit log: %w", err)
		}
		if len(raw) == 0 {
			return fmt.Errorf("server: audit records before %d were removed but no signed head holds their hashes", pruned)
		}
		sth, err := decodeHead(raw[0])
		if err != nil || sth.Head.PrevSize != uint64(l.tree.Size()) || len(sth.Leaves) != int(sth.Head.Size-sth.Head.PrevSize) {
			return fmt.Errorf("server: signed tree head %d does not hold the hashes of removed audit records (%v)", seq, err)
		}
		for _, h := range sth.Leaves {
			if uint64(l.tree.Size()) < pruned {
				l.tree.Append(h)
			}
		}
	}
	return nil
}

// appended is called by the store, in order, for every batch committed.
// A batch the tree holds already (it was read while rebuilding) is skipped.
func (l *AuditLog) appended(first uint64, records [][]byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	size := uint64(l.tree.Size())
	if first > size {
		// A gap cannot happen: the store reports every batch in order.
		// Rebuild rather than hash a tree that is not the log.
		if err := l.rebuildLocked(); err != nil {
			l.err = err
		}
		return
	}
	for i := size - first; i < uint64(len(records)); i++ {
		l.tree.Append(audit.LeafHash(records[i]))
	}
	l.notifyLocked()
}

func (l *AuditLog) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.rebuildLocked(); err != nil {
		l.err = err
	}
}

func (l *AuditLog) notifyLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Size returns the number of records in the tree, and a channel closed when
// it grows.
func (l *AuditLog) Size() (int64, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.tree.Size(), l.changed
}

// withTree runs f with the tree locked.
func (l *AuditLog) withTree(f func(t *audit.Tree) error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return l.err
	}
	return f(&l.tree)
}

// Root returns the root of the first n records.
func (l *AuditLog) Root(n int64) (audit.Hash, error) {
	var h audit.Hash
	err := l.withTree(func(t *audit.Tree) (err error) {
		h, err = t.Root(n)
		return err
	})
	return h, err
}

// auditBatch is a group of records committed as one log entry. Every request
// whose record is in it waits for done.
type auditBatch struct {
	records [][]byte
	ids     []string
	macs    [][]byte
	bytes   int
	done    chan struct{}
	err     error
}

// Limits of one audit batch (one Raft entry).
const (
	maxAuditBatchRecords = keystore.MaxLogBatch
	maxAuditBatchBytes   = keystore.MaxLogBatchBytes / 2
	// auditWriters is how many batches may be in the log at once.
	auditWriters = 2
)

// errAuditClosed: the writer has stopped; nothing more is committed.
var errAuditClosed = errors.New("server: audit writer stopped")

// auditWriter commits records with group commit: a request adds its record
// to the open batch and waits; a free writer takes the whole open batch and
// commits it as one entry. A lone request therefore waits for one commit
// only, and under load many records share one commit.
type auditWriter struct {
	// commitBatch makes a batch durable: AuditProposer.AppendAudit, or
	// auditCommitter.CommitAudit if the proposer has it.
	commitBatch func(ctx context.Context, records [][]byte, ids []string, macs [][]byte) error
	timeout     func(context.Context) (context.Context, context.CancelFunc)
	// committed, if set, is called after each batch is committed.
	committed func()
	// observe, if set, is told how long each commit took (metrics.go).
	observe func(d time.Duration, records int, err error)
	// waiting counts the records appended and not committed yet.
	waiting atomic.Int64

	mu sync.Mutex
	// queue holds the batches not yet taken by a writer, oldest first; the
	// last one accepts records until it is full or taken.
	queue  []*auditBatch
	closed bool
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup
}

func newAuditWriter(p AuditProposer, timeout func(context.Context) (context.Context, context.CancelFunc)) *auditWriter {
	w := &auditWriter{timeout: timeout, wake: make(chan struct{}, auditWriters), stop: make(chan struct{})}
	w.commitBatch = func(ctx context.Context, records [][]byte, ids []string, macs [][]byte) error {
		_, err := p.AppendAudit(ctx, records, ids, macs)
		return err
	}
	if c, ok := p.(auditCommitter); ok {
		w.commitBatch = c.CommitAudit
	}
	w.wg.Add(auditWriters)
	for range auditWriters {
		go w.run()
	}
	return w
}

// append commits one record and returns once it is durable.
func (w *auditWriter) append(record []byte, id string, mac []byte) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errAuditClosed
	}
	var b *auditBatch
	if n := len(w.queue); n > 0 {
		b = w.queue[n-1]
	}
	if b == nil || len(b.records) >= maxAuditBatchRecords || b.bytes+len(record) > maxAuditBatchBytes {
		b = &auditBatch{done: make(chan struct{})}
		w.queue = append(w.queue, b)
	}
	b.records = append(b.records, record)
	b.ids = append(b.ids, id)
	b.macs = append(b.macs, mac)
	b.bytes += len(record)
	w.waiting.Add(1)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
	<-b.done
	w.waiting.Add(-1)
	return b.err
}

// take removes the oldest batch from the queue; nil if there is none.
func (w *auditWriter) take() *auditBatch {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil
	}
	b := w.queue[0]
	w.queue[0] = nil
	w.queue = w.queue[1:]
	return b
}

func (w *auditWriter) run() {
	defer w.wg.Done()
	for {
		select {
		case <-w.stop:
			return
		case <-w.wake:
		}
		for b := w.take(); b != nil; b = w.take() {
			w.commit(b)
		}
	}
}

// commit makes b durable and wakes its waiters. Each batch is committed
// once: take hands it to one writer only.
func (w *auditWriter) commit(b *auditBatch) {
	ctx, cancel := w.timeout(context.Background())
	defer cancel()
	start := time.Now()
	b.err = w.commitBatch(ctx, b.records, b.ids, b.macs)
	if w.observe != nil {
		w.observe(time.Since(start), len(b.records), b.err)
	}
	close(b.done)
	if b.err == nil && w.committed != nil {
		w.committed()
	}
}

// close stops the writers; records appended afterwards fail. Batches being
// committed finish first.
func (w *auditWriter) close() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	w.closed = true
	w.mu.Unlock()
	for b := w.take(); b != nil; b = w.take() {
		w.commit(b)
	}
	close(w.stop)
	w.wg.Wait()
}
