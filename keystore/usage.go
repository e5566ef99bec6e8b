package keystore

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// prefixUsage keys the last usage batch applied per node: "u/<node>".
const prefixUsage = "u/"

func planAddUsage(v *view, m *Mutation) (change, error) {
	u := m.Usage
	if u == nil || u.Node == "" || u.Seq == 0 {
		return change{}, fmt.Errorf("%w: %s without a batch", ErrInvalidMutation, m.Op)
	}
	if u.Seq <= v.usageSeq[u.Node] {
		return change{}, nil // a batch proposed again after an unknown outcome
	}
	changed := map[string]*Key{}
	for _, c := range u.Counts {
		k := changed[c.KeyID]
		if k == nil {
			orig, ok := v.keys[c.KeyID]
			if !ok {
				continue // deleted since
			}
			k = cloneKey(orig)
		}
		for i := range k.Versions {
			if k.Versions[i].MaterialID == c.MaterialID {
				k.Versions[i].EncryptionCount += c.N
				changed[c.KeyID] = k
			}
		}
	}
	ch := change{usage: map[string]uint64{u.Node: u.Seq}}
	for _, k := range changed {
		ch.putKeys = append(ch.putKeys, k)
	}
	slices.SortFunc(ch.putKeys, func(a, b *Key) int { return strings.Compare(a.ID, b.ID) })
	return ch, nil
}

// UsageSeq returns the Seq of the last usage batch applied for node; the
// node's next batch must carry a larger one.
func (s *Store) UsageSeq(node string) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.v.usageSeq[node]
}

func decodeSeq(key string, val []byte) (uint64, error) {
	if len(val) != 8 {
		return 0, fmt.Errorf("record %q: bad length %d", key, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

// Reservation asks for uses of a key's material under a usage limit: Node
// may make up to Count more encryptions with it, as long as the material's
// Allotted stays within Limit. Seq numbers a node's requests for one
// material; a request proposed again (after an unknown outcome) with the
// same Seq is applied once.
type Reservation struct {
	Node  string `json:"node"`
	Seq   uint64 `json:"seq"`
	Count uint64 `json:"count"`
	Limit uint64 `json:"limit"`
}

// planReserveUsage allots min(Count, Limit-Allotted) uses of the material
// to the node, if it is still the key's current material; otherwise none.
// The node learns what it got from the material's AllottedTo.
func planReserveUsage(v *view, m *Mutation) (change, error) {
	r := m.Reserve
	if r == nil || r.Node == "" || r.Seq == 0 || r.Limit == 0 || m.MaterialID == "" {
		return change{}, fmt.Errorf("%w: %s without a reservation", ErrInvalidMutation, m.Op)
	}
	k, ok := v.keys[m.KeyID]
	if !ok {
		return change{}, fmt.Errorf("%s: key %q: %w", m.Op, m.KeyID, ErrNotFound)
	}
	cur, ok := k.Current()
	if !ok || cur.MaterialID != m.MaterialID {
		return change{}, nil // rotated or gone meanwhile: nothing allotted
	}
	if r.Seq <= cur.AllotSeq[r.Node] {
		return change{}, nil // proposed again after an unknown outcome
	}
	grant := min(r.Count, r.Limit-min(r.Limit, cur.Allotted))
	k = cloneKey(k)
	for i := range k.Versions {
		ver := &k.Versions[i]
		if ver.MaterialID != m.MaterialID {
			continue
		}
		ver.AllottedTo = maps.Clone(ver.AllottedTo)
		ver.AllotSeq = maps.Clone(ver.AllotSeq)
		if ver.AllottedTo == nil {
			ver.AllottedTo, ver.AllotSeq = map[string]uint64{}, map[string]uint64{}
		}
		ver.Allotted += grant
		ver.AllottedTo[r.Node] += grant
		ver.AllotSeq[r.Node] = r.Seq
	}
	return change{putKeys: []*Key{k}}, nil
}
