package server

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/kmsd/kmsd/keystore"
)

// usageCounter counts this node's encryptions per key version between
// reports. Counting is one atomic add on the crypto path.
type usageCounter struct {
	m sync.Map // materialKey -> *atomic.Uint64
}

func (u *usageCounter) add(keyID, materialID string) {
	mk := materialKey{keyID: keyID, materialID: materialID}
	c, ok := u.m.Load(mk)
	if !ok {
		c, _ = u.m.LoadOrStore(mk, new(atomic.Uint64))
	}
	c.(*atomic.Uint64).Add(1)
}

// pending returns the count not reported yet.
func (u *usageCounter) pending(keyID, materialID string) uint64 {
	if c, ok := u.m.Load(materialKey{keyID: keyID, materialID: materialID}); ok {
		return c.(*atomic.Uint64).Load()
	}
	return 0
}

// take moves every count into a list, leaving the counters at zero.
func (u *usageCounter) take() []keystore.UsageCount {
	var out []keystore.UsageCount
	u.m.Range(func(k, v any) bool {
		if n := v.(*atomic.Uint64).Swap(0); n > 0 {
			mk := k.(materialKey)
			out = append(out, keystore.UsageCount{KeyID: mk.keyID, MaterialID: mk.materialID, N: n})
		}
		return true
	})
	return out
}

// usageReporter commits this node's counts through the log in numbered
// batches. A batch whose outcome is unknown is proposed again with the same
// number, which the state machine applies at most once.
type usageReporter struct {
	mu      sync.Mutex
	seq     uint64 // number of the batch in flight or next
	pending *keystore.UsageBatch
}

// report proposes the pending batch, or a new one with the counts taken
// since the last report. Counts of a batch that failed stay in it.
func (s *Server) reportUsage(ctx context.Context) error {
	r := &s.reporter
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == nil {
		counts := s.usage.take()
		if len(counts) == 0 {
			return nil
		}
		if r.seq == 0 {
			r.seq = s.store.UsageSeq(s.nodeID) + 1
		}
		r.pending = &keystore.UsageBatch{Node: s.nodeID, Seq: r.seq, Counts: counts}
	}
	err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpAddUsage, Time: s.now().UTC(), Usage: r.pending})
	if err != nil {
		return err
	}
	r.pending = nil
	r.seq++
	return nil
}
