package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

func auditCommand(t *testing.T, recs ...string) *clusterv1.Command {
	b := &clusterv1.AuditBatch{}
	for _, r := range recs {
		b.Records = append(b.Records, []byte(r))
		b.EventIds = append(b.EventIds, "id-"+r)
	}
	return &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS, Payload: mustMarshal(t, b)}
}

// ApplyBatch answers each entry as Apply would, in order, whatever mix of
// audit batches and other commands it gets.
func TestFSMApplyBatch(t *testing.T) {
	f, store := newTestFSM(t)
	k := &keystore.Key{ID: "k1", State: keystore.Enabled, CreationDate: t0}
	create := mutationCommand(t, &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: k})
	head := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_AUDIT_HEAD,
		Payload: mustMarshal(t, &clusterv1.AuditHead{Sequence: 0, Head: []byte("h")})}
	logs := []*raft.Log{
		commandLog(t, 1, auditCommand(t, "a", "b")),
		commandLog(t, 2, auditCommand(t, "c")),
		{Index: 3, Term: 1, Type: raft.LogConfiguration},
		commandLog(t, 4, create),
		commandLog(t, 5, auditCommand(t, "d")),
		commandLog(t, 6, create),
		commandLog(t, 7, head),
		commandLog(t, 8, auditCommand(t, "e", "f", "g")),
	}
	resp := f.ApplyBatch(logs)
	want := []string{"{0 false}", "{2 false}", "<nil>", "<nil>", "{3 false}", "already exists", "<nil>", "{4 false}"}
	if len(resp) != len(logs) {
		t.Fatalf("%d responses for %d entries", len(resp), len(logs))
	}
	for i, r := range resp {
		got := fmt.Sprint(r)
		if err, ok := r.(error); ok {
			if !errors.Is(err, keystore.ErrAlreadyExists) {
				t.Errorf("entry %d: %v", i, err)
			}
			got = "already exists"
		}
		if got != want[i] {
			t.Errorf("entry %d: %s, want %s", i, got, want[i])
		}
	}
	// The last audit batch is written behind the state machine.
	f.audit.drain()
	if store.LogSize() != 7 || store.AppliedIndex() != 8 || store.LogHeadCount() != 1 {
		t.Fatalf("size %d, applied %d, heads %d", store.LogSize(), store.AppliedIndex(), store.LogHeadCount())
	}
	// Replaying the batch changes nothing.
	f.ApplyBatch(logs)
	f.audit.drain()
	if store.LogSize() != 7 {
		t.Fatalf("replay grew the log to %d", store.LogSize())
	}
	if pos, ok, _ := store.LogPosition("id-e"); !ok || pos != 4 {
		t.Fatalf("id-e at %d %v", pos, ok)
	}
}

// Concurrent appends through a real node each get their own positions, and
// the log holds every record once.
func TestNodeAppendAuditConcurrently(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	const writers, per = 16, 20
	var mu sync.Mutex
	positions := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				r := fmt.Sprintf("r-%d-%d", w, i)
				first, err := tn.node.AppendAudit(ctx, [][]byte{[]byte(r), []byte(r + "b")}, []string{r, r + "b"}, nil)
				cancel()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for j, rec := range []string{r, r + "b"} {
					if prev, dup := positions[first+uint64(j)]; dup {
						t.Errorf("position %d given to %s and %s", first+uint64(j), prev, rec)
					}
					positions[first+uint64(j)] = rec
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	n := uint64(writers * per * 2)
	if tn.store.LogSize() != n || uint64(len(positions)) != n {
		t.Fatalf("log size %d, %d positions, want %d", tn.store.LogSize(), len(positions), n)
	}
	recs, err := tn.store.LogRecords(0, n)
	if err != nil {
		t.Fatal(err)
	}
	for pos, want := range positions {
		if string(recs[pos]) != want {
			t.Fatalf("position %d holds %s, want %s", pos, recs[pos], want)
		}
	}
	tn.restart()
	if tn.store.LogSize() != n {
		t.Fatalf("after restart: %d records", tn.store.LogSize())
	}
}

// CommitAudit answers once a batch is committed, before the state machine
// has written it; AuditBarrier waits for the write. Shown by holding the
// writer back: the proposer is answered, a reader behind the barrier is
// not, and once the writer runs every record is where the log order puts
// it, mutations applied between batches included.
func TestCommitAuditAnswersBeforeTheWrite(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tn.node.CommitAudit(ctx, [][]byte{[]byte("r0")}, []string{"r0"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := tn.node.AuditBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tn.store.LogPosition("r0"); !ok {
		t.Fatal("a record committed and passed the barrier is not in the store")
	}

	a := tn.node.fsm.audit
	a.mu.Lock()
	a.busy = true // the writer is taken: batches queue up unwritten
	a.mu.Unlock()
	released := false
	release := func() {
		if !released {
			released = true
			go a.run()
		}
	}
	defer release()
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("r%d", i)
		if err := tn.node.CommitAudit(ctx, [][]byte{[]byte(id), []byte(id + "b")}, []string{id, id + "b"}, nil); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	if _, ok, _ := tn.store.LogPosition("r5"); ok {
		t.Fatal("the writer was held back, yet the record is in the store: the test does not test")
	}
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	err := tn.node.AuditBarrier(short)
	cancelShort()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("barrier with unwritten records: %v, want ErrTimeout", err)
	}
	// A mutation waits for the records before it in the log.
	done := make(chan error, 1)
	go func() {
		k := &keystore.Key{ID: "k-after", State: keystore.Enabled, CreationDate: t0}
		done <- tn.node.ApplyMutation(ctx, &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: k})
	}()
	select {
	case err := <-done:
		t.Fatalf("a mutation was applied before the audit batches ahead of it: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := tn.node.AuditBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 5; i++ {
		want := uint64(2*i - 1)
		if i == 0 {
			want = 0
		}
		id := fmt.Sprintf("r%d", i)
		if pos, ok, err := tn.store.LogPosition(id); err != nil || !ok || pos != want {
			t.Fatalf("%s at %d (%v, %v), want %d", id, pos, ok, err, want)
		}
	}
	if tn.store.LogSize() != 11 {
		t.Fatalf("log size %d, want 11", tn.store.LogSize())
	}
}

// A batch the state machine would refuse is refused before it is
// proposed: a committed batch is always written.
func TestCommitAuditRefusesBadBatches(t *testing.T) {
	tn := newTestNode(t)
	tn.start()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The new leader's own entries (its barrier) are in the log once it
	// leads and serves reads.
	waitFor(t, "the leader's barrier", func() bool {
		_, err := tn.node.leaderReadIndex(ctx)
		return err == nil
	})
	before, _ := tn.node.logs.LastIndex()
	for name, b := range map[string]struct {
		recs [][]byte
		ids  []string
		macs [][]byte
	}{
		"ids do not match": {[][]byte{[]byte("a"), []byte("b")}, []string{"a"}, nil},
		"empty record":     {[][]byte{{}}, []string{"a"}, nil},
		"record too large": {[][]byte{make([]byte, keystore.MaxLogRecord+1)}, []string{"a"}, nil},
		"MAC missing":      {[][]byte{[]byte("a"), []byte("b")}, []string{"a", "b"}, [][]byte{[]byte("m")}},
		"MAC too long":     {[][]byte{[]byte("a")}, []string{"a"}, [][]byte{make([]byte, 65)}},
		"too many records": {make([][]byte, keystore.MaxLogBatch+1), make([]string, keystore.MaxLogBatch+1), nil},
	} {
		if err := tn.node.CommitAudit(ctx, b.recs, b.ids, b.macs); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("%s: %v, want ErrInvalidCommand", name, err)
		}
	}
	if after, _ := tn.node.logs.LastIndex(); after != before {
		t.Fatalf("refused batches reached the log: last index %d -> %d", before, after)
	}
}
