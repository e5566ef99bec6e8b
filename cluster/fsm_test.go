package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

func newTestFSM(t *testing.T) (*fsm, *keystore.Store) {
	store, err := keystore.Open("", keystore.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	f := newFSM(store, testLogger(t))
	t.Cleanup(func() {
		f.audit.drain()
		store.Close()
	})
	return f, store
}

func commandLog(t *testing.T, index uint64, cmd *clusterv1.Command) *raft.Log {
	b, err := proto.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: b}
}

func mutationCommand(t *testing.T, m *keystore.Mutation) *clusterv1.Command {
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_KEYSTORE, Payload: b}
}

func TestFSMApplyKeystore(t *testing.T) {
	f, store := newTestFSM(t)
	k := &keystore.Key{ID: "k1", State: keystore.Enabled, CreationDate: t0}
	create := mutationCommand(t, &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: k})
	if resp := f.Apply(commandLog(t, 1, create)); resp != nil {
		t.Fatalf("create = %v", resp)
	}
	resp := f.Apply(commandLog(t, 2, create))
	if err, ok := resp.(error); !ok || !errors.Is(err, keystore.ErrAlreadyExists) {
		t.Fatalf("second create = %#v, want keystore.ErrAlreadyExists", resp)
	}
	if store.AppliedIndex() != 2 {
		t.Errorf("applied index = %d", store.AppliedIndex())
	}
	// Replay: skipped, not refused.
	if resp := f.Apply(commandLog(t, 2, create)); resp != nil {
		t.Errorf("replayed entry = %v", resp)
	}
}

func TestFSMPanicsOnBadCommands(t *testing.T) {
	tests := []struct {
		name string
		data []byte
	}{
		{"undecodable", []byte{0xff, 0xff, 0xff}},
		{"unknown type", mustMarshal(t, &clusterv1.Command{Type: 99, Payload: []byte("x")})},
		{"unspecified type", mustMarshal(t, &clusterv1.Command{})},
		{"undecodable mutation", mustMarshal(t, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_KEYSTORE, Payload: []byte("{")})},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d:%s", i, tt.name), func(t *testing.T) {
			f, _ := newTestFSM(t)
			defer func() {
				if recover() == nil {
					t.Error("Apply did not panic")
				}
			}()
			f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: tt.data})
		})
	}
}

func TestFSMSkipsIgnorableUnknownCommand(t *testing.T) {
	f, store := newTestFSM(t)
	before := store.Digest()
	resp := f.Apply(commandLog(t, 1, &clusterv1.Command{Type: 99, Payload: []byte("x"), Ignorable: true}))
	if resp != nil {
		t.Errorf("ignorable command = %v", resp)
	}
	if store.Digest() != before {
		t.Error("an ignored command changed the state")
	}
}

func TestFSMSnapshotRestore(t *testing.T) {
	src, srcStore := newTestFSM(t)
	for i := uint64(1); i <= 5; i++ {
		k := &keystore.Key{ID: fmt.Sprint("k", i), State: keystore.Enabled}
		src.Apply(commandLog(t, i, mutationCommand(t, &keystore.Mutation{Op: keystore.OpCreateKey, Key: k})))
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil || !sink.closed {
		t.Fatalf("Persist = %v, closed %v", err, sink.closed)
	}
	snap.Release()

	dst, dstStore := newTestFSM(t)
	if err := dst.Restore(io.NopCloser(&sink.buf)); err != nil {
		t.Fatal(err)
	}
	if dstStore.Digest() != srcStore.Digest() {
		t.Error("restored digest differs")
	}
}

func TestFSMPersistCancelsOnError(t *testing.T) {
	f, _ := newTestFSM(t)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{fail: true}
	if err := snap.Persist(sink); err == nil || !sink.cancelled || sink.closed {
		t.Errorf("Persist to a failing sink = %v, cancelled %v, closed %v", err, sink.cancelled, sink.closed)
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	buf               bytes.Buffer
	fail              bool
	closed, cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.fail {
		return 0, errors.New("disk full")
	}
	return s.buf.Write(p)
}
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) ID() string    { return "mem" }
