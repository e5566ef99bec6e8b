package keystore

import (
	"encoding/binary"
	"fmt"
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
