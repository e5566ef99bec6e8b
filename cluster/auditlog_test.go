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
	want := []string{"{0}", "{2}", "<nil>", "<nil>", "{3}", "already exists", "<nil>", "{4}"}
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
	if store.LogSize() != 7 || store.AppliedIndex() != 8 || store.LogHeadCount() != 1 {
		t.Fatalf("size %d, applied %d, heads %d", store.LogSize(), store.AppliedIndex(), store.LogHeadCount())
	}
	// Replaying the batch changes nothing.
	f.ApplyBatch(logs)
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
