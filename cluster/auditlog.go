package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// auditAppended is the state machine's answer to an audit batch; forwarded
// marks the leader's answer to a batch this node forwarded.
type auditAppended struct {
	first     uint64
	forwarded bool
}

// AppendAudit replicates a batch of audit records (one Raft entry for the
// whole batch) and returns the log position of the first, once the entry
// is committed and, on the leader, written to its store (a follower
// forwards the batch and answers once the leader has committed it). ids[i] is the event id of
// records[i], and macs[i] (stored with it, opaque) authenticates it. The
// errors are Apply's; on any error the records may or may not have been
// committed.
func (n *Node) AppendAudit(ctx context.Context, records [][]byte, ids []string, macs [][]byte) (uint64, error) {
	payload, err := proto.Marshal(&clusterv1.AuditBatch{Records: records, EventIds: ids, Macs: macs})
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	resp, err := n.Apply(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS, Payload: payload})
	if err != nil {
		return 0, err
	}
	switch r := resp.(type) {
	case auditAppended:
		if r.forwarded {
			return r.first, nil // answered by the leader once committed
		}
		// The state machine answers once it has queued the batch
		// (auditApplier); it is in the store once written.
		if err := n.AuditBarrier(ctx); err != nil {
			return 0, err
		}
		return r.first, nil
	case error:
		return 0, r
	}
	return 0, fmt.Errorf("cluster: unexpected response %T to an audit batch", resp)
}

// CommitAudit replicates a batch of audit records like AppendAudit but
// returns as soon as the entry is committed: written and fsynced in the
// Raft log of a quorum of members, which is what makes anything in the
// cluster durable (a member that crashes before applying it applies it
// from its log when it restarts). It does not wait for this node's state
// machine to apply it, which is a second fsync the caller need not wait
// for; AuditBarrier lets a reader wait for it. The batch is checked first as
// the state machine checks it (an invalid one is never proposed), so a
// committed batch is never refused. Off the leader it is AppendAudit.
func (n *Node) CommitAudit(ctx context.Context, records [][]byte, ids []string, macs [][]byte) error {
	if err := keystore.CheckLogAppend(keystore.LogAppend{Records: records, IDs: ids, MACs: macs}); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	if len(ids) == 0 || ids[0] == "" || !n.IsLeader() {
		_, err := n.AppendAudit(ctx, records, ids, macs)
		return err
	}
	committed, ok := n.fsm.commits.add(ids[0])
	if !ok { // an id proposed twice at once: wait for the apply instead
		_, err := n.AppendAudit(ctx, records, ids, macs)
		return err
	}
	defer n.fsm.commits.remove(ids[0], committed)
	payload, err := proto.Marshal(&clusterv1.AuditBatch{Records: records, EventIds: ids, Macs: macs})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	b, err := proto.Marshal(&clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS, Payload: payload})
	if err != nil {
		return fmt.Errorf("cluster: encode command: %w", err)
	}
	if n.isShutdown() {
		return ErrShutdown
	}
	timeout, err := n.timeout(ctx)
	if err != nil {
		return err
	}
	// The state machine receives the entry once it is committed, and
	// closes committed before applying it.
	return n.waitOr(ctx, n.raft.Apply(b, timeout), committed, timeout)
}

// AuditBarrier returns once this node has applied every audit batch whose
// commit it has seen, and every batch it forwarded to the leader and was
// answered for, so that a reader finds every record this node acknowledged
// before the call. It waits at most until ctx's deadline or ApplyTimeout.
func (n *Node) AuditBarrier(ctx context.Context) error {
	if n.isShutdown() {
		return ErrShutdown
	}
	return n.waitApplied(ctx, max(n.fsm.auditSeen.Load(), n.auditForwarded.Load()))
}

// commitWaiters lets the proposer of an audit batch learn that its entry
// is committed as soon as the state machine receives it, before it is
// applied (CommitAudit). A batch is named by its first event id.
type commitWaiters struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// add registers a waiter for the batch named id; ok is false if one is
// registered already.
func (c *commitWaiters) add(id string) (ch chan struct{}, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.m[id]; dup {
		return nil, false
	}
	if c.m == nil {
		c.m = make(map[string]chan struct{})
	}
	ch = make(chan struct{})
	c.m[id] = ch
	return ch, true
}

// remove unregisters ch, the waiter add returned for id, if it is still
// registered.
func (c *commitWaiters) remove(id string, ch chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[id] == ch {
		delete(c.m, id)
	}
}

// committed wakes the waiter of the batch named id, if any.
func (c *commitWaiters) committed(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ch, ok := c.m[id]; ok {
		close(ch)
		delete(c.m, id)
	}
}

// seenAudit records that the audit batch b at index is committed: its
// proposer may answer, and AuditBarrier waits for index from now on.
func (f *fsm) seenAudit(index uint64, b *clusterv1.AuditBatch) {
	f.auditSeen.Store(index)
	if len(b.EventIds) > 0 {
		f.commits.committed(b.EventIds[0])
	}
}

// AppendAuditHead replicates signed tree head number seq. It returns
// keystore.ErrAlreadyExists if another head took that number first.
func (n *Node) AppendAuditHead(ctx context.Context, seq uint64, head []byte) error {
	payload, err := proto.Marshal(&clusterv1.AuditHead{Sequence: seq, Head: head})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	return n.applyForError(ctx, clusterv1.CommandType_COMMAND_TYPE_AUDIT_HEAD, payload)
}

// SetAuditKey replicates the audit log's signing key. It returns
// keystore.ErrAlreadyExists if a key is stored already.
func (n *Node) SetAuditKey(ctx context.Context, k keystore.LogKey) error {
	payload, err := proto.Marshal(&clusterv1.AuditSigningKey{WrappedSeed: k.WrappedSeed, PublicKey: k.PublicKey})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	return n.applyForError(ctx, clusterv1.CommandType_COMMAND_TYPE_AUDIT_KEY, payload)
}

// PruneAudit replicates the removal of audit records [from, upTo). It
// returns keystore.ErrInvalidState if from is no longer the first record
// held (they were pruned already).
func (n *Node) PruneAudit(ctx context.Context, from, upTo uint64) error {
	payload, err := proto.Marshal(&clusterv1.AuditPrune{From: from, UpTo: upTo})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	return n.applyForError(ctx, clusterv1.CommandType_COMMAND_TYPE_AUDIT_PRUNE, payload)
}

func (n *Node) applyForError(ctx context.Context, t clusterv1.CommandType, payload []byte) error {
	resp, err := n.Apply(ctx, &clusterv1.Command{Type: t, Payload: payload})
	if err != nil {
		return err
	}
	if err, ok := resp.(error); ok {
		return err
	}
	return nil
}

func (f *fsm) applyAuditRecords(index uint64, cmd *clusterv1.Command) any {
	var b clusterv1.AuditBatch
	if err := proto.Unmarshal(cmd.Payload, &b); err != nil {
		panic(fmt.Sprintf("cluster: undecodable audit batch at index %d: %v", index, err))
	}
	f.seenAudit(index, &b)
	first, err := f.audit.enqueue(keystore.LogAppend{Index: index, Records: b.Records, IDs: b.EventIds, MACs: b.Macs})
	return f.outcome(index, auditAppended{first: first}, err)
}

func (f *fsm) applyAuditHead(index uint64, cmd *clusterv1.Command) any {
	var h clusterv1.AuditHead
	if err := proto.Unmarshal(cmd.Payload, &h); err != nil {
		panic(fmt.Sprintf("cluster: undecodable audit head at index %d: %v", index, err))
	}
	return f.outcome(index, nil, f.store.AppendLogHead(index, h.Sequence, h.Head))
}

func (f *fsm) applyAuditKey(index uint64, cmd *clusterv1.Command) any {
	var k clusterv1.AuditSigningKey
	if err := proto.Unmarshal(cmd.Payload, &k); err != nil {
		panic(fmt.Sprintf("cluster: undecodable audit key at index %d: %v", index, err))
	}
	err := f.store.SetLogKey(index, keystore.LogKey{WrappedSeed: k.WrappedSeed, PublicKey: k.PublicKey})
	return f.outcome(index, nil, err)
}

func (f *fsm) applyAuditPrune(index uint64, cmd *clusterv1.Command) any {
	var p clusterv1.AuditPrune
	if err := proto.Unmarshal(cmd.Payload, &p); err != nil {
		panic(fmt.Sprintf("cluster: undecodable audit prune at index %d: %v", index, err))
	}
	return f.outcome(index, nil, f.store.PruneLog(index, p.From, p.UpTo))
}

// outcome turns a store result into the entry's response: a storage
// failure stops the node (its state would diverge), a domain error is
// returned as a value.
func (f *fsm) outcome(index uint64, ok any, err error) any {
	if errors.Is(err, keystore.ErrStorage) {
		panic(fmt.Sprintf("cluster: cannot apply index %d: %v", index, err))
	}
	if err != nil {
		return err
	}
	return ok
}

var _ raft.BatchingFSM = (*fsm)(nil)

// ApplyBatch applies committed entries in order. Audit batches are queued
// for the auditApplier, which writes them together; consecutive key store
// mutations are committed together, in one synced transaction where they
// fit (keystore.Store.ApplyMutations). Every other entry is applied as
// Apply would.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	defer f.notifyApplied()
	out := make([]any, len(logs))
	var run []int // positions in logs of the key store mutations collected
	var muts []keystore.IndexedMutation
	flush := func() {
		if len(run) == 0 {
			return
		}
		f.audit.drain() // the store applies entries in log order
		errs, err := f.store.ApplyMutations(muts)
		if err != nil {
			panic(fmt.Sprintf("cluster: cannot apply indexes %d-%d: %v", muts[0].Index, muts[len(muts)-1].Index, err))
		}
		for i, pos := range run {
			if errs[i] != nil {
				out[pos] = errs[i]
			}
		}
		f.stateIndex.Store(muts[len(muts)-1].Index)
		run, muts = run[:0], muts[:0]
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue // configuration changes: nothing to apply here
		}
		var cmd clusterv1.Command
		if err := proto.Unmarshal(l.Data, &cmd); err != nil {
			panic(fmt.Sprintf("cluster: undecodable command at index %d: %v", l.Index, err))
		}
		if cmd.Type == clusterv1.CommandType_COMMAND_TYPE_KEYSTORE {
			m, err := keystore.DecodeMutation(cmd.Payload)
			if err != nil {
				panic(fmt.Sprintf("cluster: undecodable key store mutation at index %d: %v", l.Index, err))
			}
			run = append(run, i)
			muts = append(muts, keystore.IndexedMutation{Index: l.Index, Mutation: m})
			continue
		}
		flush()
		out[i] = f.dispatch(l.Index, &cmd)
	}
	flush()
	return out
}
