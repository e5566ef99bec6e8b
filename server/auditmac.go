package server

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"

	"github.com/kmsd/kmsd/audit"
)

// Records are committed before they are signed, so a record appended to
// the store behind kmsd's back (while it is stopped, say) would be signed
// with the next head like any other. To tell them apart, the node that
// writes a record stores with it an HMAC of its leaf hash under a key
// derived from the root key, and the leader signs a head only over records
// whose MAC verifies: a forged record stays outside every signed head, and
// verification reports it as unsigned.

// recordMACInfo separates the record MAC key from other uses of the root key.
const recordMACInfo = "kmsd audit record mac v1"

func deriveRecordMACKey(root []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, root, nil, recordMACInfo, 32)
}

// recordMAC returns the MAC stored with a record whose leaf hash is leaf.
func (s *Server) recordMAC(leaf audit.Hash) []byte {
	m := hmac.New(sha256.New, s.macKey)
	m.Write(leaf[:])
	return m.Sum(nil)
}

// checkRecordMACs returns the first position in [lo, hi) whose record's
// MAC does not verify, or hi if all do.
func (s *Server) checkRecordMACs(t *audit.Tree, lo, hi int64) (int64, error) {
	macs, err := s.audit.store.LogMACs(uint64(lo), uint64(hi))
	if err != nil {
		return lo, err
	}
	leaves, err := t.LeafHashes(lo, hi)
	if err != nil {
		return lo, err
	}
	m := hmac.New(sha256.New, s.macKey)
	var sum []byte
	for i, l := range leaves {
		m.Reset()
		m.Write(l[:])
		sum = m.Sum(sum[:0])
		if !hmac.Equal(sum, macs[i]) {
			return lo + int64(i), nil
		}
	}
	return hi, nil
}

// errUnauthenticRecord: the leader will not sign over a record whose MAC
// does not verify.
type errUnauthenticRecord struct{ pos int64 }

func (e errUnauthenticRecord) Error() string {
	return fmt.Sprintf("audit record %d was not written by kmsd (its MAC does not verify); no head will cover it", e.pos)
}
