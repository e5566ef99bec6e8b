package cluster

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// auditAppended is the state machine's answer to an audit batch.
type auditAppended struct{ first uint64 }

// AppendAudit replicates a batch of audit records (one Raft entry for the
// whole batch) and returns the log position of the first, once the entry
// is committed and applied on this node. ids[i] is the event id of
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
		return r.first, nil
	case error:
		return 0, r
	}
	return 0, fmt.Errorf("cluster: unexpected response %T to an audit batch", resp)
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
	first, _, err := f.store.AppendLog(index, b.Records, b.EventIds, b.Macs...)
	return f.outcome(index, auditAppended{first}, err)
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

// ApplyBatch applies committed entries in order. Consecutive audit batches
// are applied together, in as few synced transactions as the store allows,
// so a burst of them costs one fsync; every other entry is applied as
// Apply would.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	defer f.notifyApplied()
	out := make([]any, len(logs))
	var run []int // positions in logs of the audit batches being collected
	var appends []keystore.LogAppend
	flush := func() {
		if len(run) == 0 {
			return
		}
		res, err := f.store.AppendLogs(appends)
		if err != nil {
			panic(fmt.Sprintf("cluster: cannot apply indexes %d-%d: %v", logs[run[0]].Index, logs[run[len(run)-1]].Index, err))
		}
		for i, pos := range run {
			out[pos] = f.outcome(logs[pos].Index, auditAppended{res[i].First}, res[i].Err)
		}
		run, appends = run[:0], appends[:0]
	}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue // configuration changes: nothing to apply here
		}
		var cmd clusterv1.Command
		if err := proto.Unmarshal(l.Data, &cmd); err != nil {
			panic(fmt.Sprintf("cluster: undecodable command at index %d: %v", l.Index, err))
		}
		if cmd.Type != clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS {
			flush()
			out[i] = f.dispatch(l.Index, &cmd)
			continue
		}
		var b clusterv1.AuditBatch
		if err := proto.Unmarshal(cmd.Payload, &b); err != nil {
			panic(fmt.Sprintf("cluster: undecodable audit batch at index %d: %v", l.Index, err))
		}
		run = append(run, i)
		appends = append(appends, keystore.LogAppend{Index: l.Index, Records: b.Records, IDs: b.EventIds, MACs: b.Macs})
	}
	flush()
	return out
}
