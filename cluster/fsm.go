package cluster

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// applyFunc applies one decoded command. It returns the command's outcome:
// nil or a domain error, as a value.
type applyFunc func(index uint64, cmd *clusterv1.Command) any

// fsm is the raft state machine. It only decodes commands and dispatches
// them; the state and its rules live in the key store.
type fsm struct {
	store    *keystore.Store
	log      *slog.Logger
	handlers map[clusterv1.CommandType]applyFunc

	// stateIndex is the index of the last entry applied that changed
	// something other than the audit log: what a read must have seen (see
	// readindex.go).
	stateIndex atomic.Uint64
	// auditSeen is the index of the last audit batch received, applied or
	// about to be; commits wakes the proposers of audit batches when they
	// are received (auditlog.go).
	auditSeen atomic.Uint64
	commits   commitWaiters
	// audit writes audit batches behind the state machine.
	audit *auditApplier
	// restores counts the snapshots restored since the node started (see
	// Node.Restore).
	restores atomic.Uint64
	// applied is closed and replaced after every apply, to wake waiters.
	appliedMu sync.Mutex
	applied   chan struct{}
}

var _ raft.FSM = (*fsm)(nil)

func newFSM(store *keystore.Store, log *slog.Logger) *fsm {
	f := &fsm{store: store, log: log, applied: make(chan struct{})}
	f.stateIndex.Store(store.AppliedIndex())
	f.audit = newAuditApplier(store, f.notifyApplied)
	f.handlers = map[clusterv1.CommandType]applyFunc{
		clusterv1.CommandType_COMMAND_TYPE_KEYSTORE:      f.applyKeystore,
		clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS: f.applyAuditRecords,
		clusterv1.CommandType_COMMAND_TYPE_AUDIT_HEAD:    f.applyAuditHead,
		clusterv1.CommandType_COMMAND_TYPE_AUDIT_KEY:     f.applyAuditKey,
		clusterv1.CommandType_COMMAND_TYPE_AUDIT_PRUNE:   f.applyAuditPrune,
		clusterv1.CommandType_COMMAND_TYPE_MEMBER:        f.applyMember,
	}
	return f
}

// Apply applies a committed entry. An entry that cannot be decoded, or
// whose type is unknown and not ignorable, panics: skipping it would make
// this node's state diverge from the others'. So does a storage failure.
func (f *fsm) Apply(l *raft.Log) any {
	var cmd clusterv1.Command
	if err := proto.Unmarshal(l.Data, &cmd); err != nil {
		panic(fmt.Sprintf("cluster: undecodable command at index %d: %v", l.Index, err))
	}
	defer f.notifyApplied()
	return f.dispatch(l.Index, &cmd)
}

// notifyApplied wakes those waiting for an index to be applied.
func (f *fsm) notifyApplied() {
	f.appliedMu.Lock()
	close(f.applied)
	f.applied = make(chan struct{})
	f.appliedMu.Unlock()
}

// appliedSignal returns a channel closed at the next apply.
func (f *fsm) appliedSignal() <-chan struct{} {
	f.appliedMu.Lock()
	defer f.appliedMu.Unlock()
	return f.applied
}

// dispatch applies one decoded command.
func (f *fsm) dispatch(index uint64, cmd *clusterv1.Command) any {
	apply, ok := f.handlers[cmd.Type]
	if !ok {
		if cmd.Ignorable {
			f.log.Warn("skipping unknown ignorable command", "index", index, "type", cmd.Type)
			return nil
		}
		panic(fmt.Sprintf("cluster: unknown command type %v at index %d", cmd.Type, index))
	}
	if cmd.Type != clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS {
		f.audit.drain() // the store applies entries in log order
	}
	out := apply(index, cmd)
	if cmd.Type != clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS {
		f.stateIndex.Store(index)
	}
	return out
}

// handles reports whether f knows commands of type t.
func (f *fsm) handles(t clusterv1.CommandType) bool {
	_, ok := f.handlers[t]
	return ok
}

func (f *fsm) applyKeystore(index uint64, cmd *clusterv1.Command) any {
	m, err := keystore.DecodeMutation(cmd.Payload)
	if err != nil {
		panic(fmt.Sprintf("cluster: undecodable key store mutation at index %d: %v", index, err))
	}
	err = f.store.Apply(index, m)
	if errors.Is(err, keystore.ErrStorage) {
		panic(fmt.Sprintf("cluster: cannot apply index %d: %v", index, err))
	}
	if err != nil {
		return err
	}
	return nil
}

// Snapshot pins the store's current state; Persist writes it.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.audit.drain()
	sn, err := f.store.Snapshot()
	if err != nil {
		return nil, err
	}
	return &fsmSnapshot{sn: sn}, nil
}

// Restore replaces the store's state with a snapshot.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	defer f.notifyApplied()
	f.audit.drain()
	err := f.store.Restore(rc)
	f.stateIndex.Store(f.store.AppliedIndex())
	if err == nil {
		f.restores.Add(1)
	}
	return err
}

type fsmSnapshot struct {
	sn *keystore.Snapshot
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := s.sn.WriteTo(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { s.sn.Release() }
