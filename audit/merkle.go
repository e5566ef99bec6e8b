package audit

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math/bits"
)

// Hash is a SHA-256 digest: a leaf hash, an interior node hash or a tree root.
type Hash [32]byte

// String returns the standard base64 encoding of h, as used in tree heads.
func (h Hash) String() string { return base64.StdEncoding.EncodeToString(h[:]) }

// equalHash compares two hashes in constant time. Roots are public, but every
// comparison of digests in kmsd goes through one named helper.
func equalHash(a, b Hash) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }

// LeafHash returns the RFC 6962 hash of a leaf: SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0x00})
	h.Write(data)
	var out Hash
	h.Sum(out[:0])
	return out
}

// NodeHash returns the RFC 6962 hash of an interior node:
// SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*len(Hash{})]byte
	buf[0] = 0x01
	copy(buf[1:], left[:])
	copy(buf[1+len(left):], right[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot returns the root of the empty tree, SHA-256 of the empty string.
func EmptyRoot() Hash { return sha256.Sum256(nil) }

// Tree is an append-only RFC 6962 Merkle tree held in memory.
//
// It stores every complete aligned subtree hash (about two hashes per leaf), so
// Root, InclusionProof and ConsistencyProof cost O(log n) node reads and no
// rehashing of leaves. Storage is all in memory for now; a persistent log will
// put the same hashes behind a tlog-style HashReader. The zero Tree is empty
// and ready to use. A Tree is not safe for concurrent use.
type Tree struct {
	// levels[k][i] is the hash of the complete subtree of 2^k leaves that
	// starts at leaf i<<k.
	levels [][]Hash
}

// Size returns the number of leaves appended so far.
func (t *Tree) Size() int64 {
	if len(t.levels) == 0 {
		return 0
	}
	return int64(len(t.levels[0]))
}

// Append adds a leaf hash (see LeafHash) and returns its index.
func (t *Tree) Append(leaf Hash) int64 {
	index := t.Size()
	h := leaf
	for k := 0; ; k++ {
		if k == len(t.levels) {
			t.levels = append(t.levels, nil)
		}
		t.levels[k] = append(t.levels[k], h)
		n := len(t.levels[k])
		if n%2 == 1 {
			return index
		}
		h = NodeHash(t.levels[k][n-2], t.levels[k][n-1])
	}
}

// LeafHashes returns a copy of the leaf hashes with indexes in [lo, hi).
func (t *Tree) LeafHashes(lo, hi int64) ([]Hash, error) {
	if lo < 0 || hi < lo || hi > t.Size() {
		return nil, fmt.Errorf("%w: leaves [%d, %d) of a tree of size %d", ErrOutOfRange, lo, hi, t.Size())
	}
	if lo == hi {
		return nil, nil
	}
	return append([]Hash(nil), t.levels[0][lo:hi]...), nil
}

// Root returns the root hash of the tree formed by the first n leaves.
func (t *Tree) Root(n int64) (Hash, error) {
	if n < 0 || n > t.Size() {
		return Hash{}, fmt.Errorf("%w: root of size %d in a tree of size %d", ErrOutOfRange, n, t.Size())
	}
	if n == 0 {
		return EmptyRoot(), nil
	}
	return t.hash(0, n), nil
}

// InclusionProof returns the RFC 6962 audit path for leaf index in the tree
// of the first n leaves.
func (t *Tree) InclusionProof(index, n int64) ([]Hash, error) {
	if index < 0 || index >= n || n > t.Size() {
		return nil, fmt.Errorf("%w: inclusion of leaf %d in size %d (tree size %d)", ErrOutOfRange, index, n, t.Size())
	}
	return t.path(index, 0, n, nil), nil
}

// ConsistencyProof returns the RFC 6962 proof that the tree of the first m
// leaves is a prefix of the tree of the first n leaves, for 0 < m <= n. The
// proof is empty when m == n.
func (t *Tree) ConsistencyProof(m, n int64) ([]Hash, error) {
	if m <= 0 || m > n || n > t.Size() {
		return nil, fmt.Errorf("%w: consistency of size %d with size %d (tree size %d)", ErrOutOfRange, m, n, t.Size())
	}
	if m == n {
		return nil, nil
	}
	return t.subproof(m, 0, n, true, nil), nil
}

// splitPoint returns the largest power of two smaller than n, for n >= 2.
func splitPoint(n int64) int64 {
	return 1 << (bits.Len64(uint64(n-1)) - 1)
}

// hash returns MTH(D[lo:hi]) for 0 <= lo < hi <= Size.
func (t *Tree) hash(lo, hi int64) Hash {
	n := hi - lo
	if n&(n-1) == 0 && lo&(n-1) == 0 {
		k := bits.TrailingZeros64(uint64(n))
		return t.levels[k][lo>>k]
	}
	k := splitPoint(n)
	return NodeHash(t.hash(lo, lo+k), t.hash(lo+k, hi))
}

// path appends PATH(m, D[lo:hi]) (RFC 6962 section 2.1.1) to proof; m is an
// absolute leaf index in [lo, hi).
func (t *Tree) path(m, lo, hi int64, proof []Hash) []Hash {
	if hi-lo == 1 {
		return proof
	}
	k := splitPoint(hi - lo)
	if m < lo+k {
		return append(t.path(m, lo, lo+k, proof), t.hash(lo+k, hi))
	}
	return append(t.path(m, lo+k, hi, proof), t.hash(lo, lo+k))
}

// subproof appends SUBPROOF(m, D[lo:hi], whole) (RFC 6962 section 2.1.2) to
// proof; m is an absolute size in (lo, hi].
func (t *Tree) subproof(m, lo, hi int64, whole bool, proof []Hash) []Hash {
	if m == hi {
		if whole {
			return proof
		}
		return append(proof, t.hash(lo, hi))
	}
	k := splitPoint(hi - lo)
	if m <= lo+k {
		return append(t.subproof(m, lo, lo+k, whole, proof), t.hash(lo+k, hi))
	}
	return append(t.subproof(m, lo+k, hi, false, proof), t.hash(lo, lo+k))
}
