package keystore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"slices"
)

// Digest returns a hash of the whole logical state: the applied index,
// every key (its policy included), every alias, every grant, every identity (identity.go), the usage batches applied per node, and the size
// of the audit log (its contents are compared through its Merkle root). Two stores that applied the same log, or one
// restored from the other's snapshot, have equal digests.
func (s *Store) Digest() [32]byte {
	_, d := s.DigestAt()
	return d
}

// DigestAt returns the applied index and the digest of the state at it,
// read together.
func (s *Store) DigestAt() (uint64, [32]byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.v.applied, s.digestLocked()
}

func (s *Store) digestLocked() [32]byte {
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
	nodes := make([]string, 0, len(s.v.usageSeq))
	for n := range s.v.usageSeq {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	for _, n := range nodes {
		field([]byte(prefixUsage + n))
		field(be64(s.v.usageSeq[n]))
	}
	wids := make([]string, 0, len(s.v.imports))
	for id := range s.v.imports {
		wids = append(wids, id)
	}
	slices.Sort(wids)
	for _, id := range wids {
		b, _ := json.Marshal(s.v.imports[id])
		field([]byte(prefixImport + id))
		field(b)
	}
	ids := make([]string, 0, len(s.v.members))
	for id := range s.v.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		field([]byte(prefixMember + id))
		field([]byte(s.v.members[id]))
	}
	s.v.iam.digest(field)
	s.v.grants.digest(field)
	h.Write(be64(s.v.logSize))
	h.Write(be64(s.v.logPruned))
	h.Write(be64(s.v.headCount))
	if k := s.v.logKey; k != nil {
		field(k.WrappedSeed)
		field(k.PublicKey)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
