package keystore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
)

// Digest returns a hash of the whole logical state: the applied index,
// every key and every alias. Two stores that applied the same log, or one
// restored from the other's snapshot, have equal digests.
func (s *Store) Digest() [32]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h := sha256.New()
	h.Write(binary.BigEndian.AppendUint64(nil, s.v.applied))
	field := func(b []byte) {
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(b))))
		h.Write(b)
	}
	for _, id := range s.v.keyIDs {
		b, _ := json.Marshal(s.v.keys[id]) // cannot fail: it was encoded when applied
		field([]byte(prefixKey + id))
		field(b)
	}
	for _, name := range s.v.aliasNames {
		b, _ := json.Marshal(s.v.aliases[name])
		field([]byte(prefixAlias + name))
		field(b)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
