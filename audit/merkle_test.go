package audit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
)

// ctLeaves are the leaf inputs of the Certificate Transparency reference
// tests (certificate-transparency merkle_tree_test.cc).
var ctLeaves = [][]byte{
	{}, {0x00}, {0x10}, {0x20, 0x21}, {0x30, 0x31}, {0x40, 0x41, 0x42, 0x43},
	{0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57},
	{0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f},
}

// ctRoots[n] is the root of the tree of the first n ctLeaves. They were
// computed independently of this package with a ten-line Python script using
// hashlib (MTH of RFC 6962 section 2.1, written recursively:
// mth([]) = sha256(b""), mth([d]) = sha256(b"\x00"+d),
// mth(D) = sha256(b"\x01"+mth(D[:k])+mth(D[k:])) with k the largest power of
// two below len(D)). The size-8 root also matches the CT reference value.
var ctRoots = []string{
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func TestRootKnownAnswers(t *testing.T) {
	var tree Tree
	for _, d := range ctLeaves {
		tree.Append(LeafHash(d))
	}
	for n, want := range ctRoots {
		got, err := tree.Root(int64(n))
		if err != nil {
			t.Fatalf("Test %d: %v", n, err)
		}
		if hex.EncodeToString(got[:]) != want {
			t.Errorf("Test %d: root = %x, want %s", n, got, want)
		}
	}
	// A tree built only up to n must agree with the prefix roots above.
	for n := range ctLeaves {
		var small Tree
		for _, d := range ctLeaves[:n+1] {
			small.Append(LeafHash(d))
		}
		got, _ := small.Root(int64(n + 1))
		if hex.EncodeToString(got[:]) != ctRoots[n+1] {
			t.Errorf("Test %d: fresh tree root = %x, want %s", n+1, got, ctRoots[n+1])
		}
	}
}

func TestTreeRangeErrors(t *testing.T) {
	tree := testTree(5)
	for i, c := range []struct {
		name string
		err  func() error
	}{
		{"root past size", func() error { _, err := tree.Root(6); return err }},
		{"negative root", func() error { _, err := tree.Root(-1); return err }},
		{"inclusion index == n", func() error { _, err := tree.InclusionProof(3, 3); return err }},
		{"inclusion n past size", func() error { _, err := tree.InclusionProof(0, 6); return err }},
		{"consistency from size 0", func() error { _, err := tree.ConsistencyProof(0, 3); return err }},
		{"consistency m > n", func() error { _, err := tree.ConsistencyProof(4, 3); return err }},
		{"consistency n past size", func() error { _, err := tree.ConsistencyProof(1, 6); return err }},
		{"leaf hashes past size", func() error { _, err := tree.LeafHashes(2, 6); return err }},
	} {
		if err := c.err(); !errors.Is(err, ErrOutOfRange) {
			t.Errorf("Test %d (%s): err = %v, want ErrOutOfRange", i, c.name, err)
		}
	}
}

// testTree returns a tree of n distinct leaves.
func testTree(n int) *Tree {
	var tree Tree
	for i := range n {
		tree.Append(LeafHash(fmt.Appendf(nil, "leaf %d", i)))
	}
	return &tree
}

func flipBit(h Hash, bit int) Hash {
	h[bit/8] ^= 1 << (bit % 8)
	return h
}

const maxProofN = 64

func TestInclusionProofs(t *testing.T) {
	tree := testTree(maxProofN)
	for n := int64(1); n <= maxProofN; n++ {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			t.Parallel()
			root, _ := tree.Root(n)
			for i := range n {
				checkInclusion(t, tree, i, n, root)
			}
		})
	}
}

func checkInclusion(t *testing.T, tree *Tree, i, n int64, root Hash) {
	t.Helper()
	leaf := tree.levels[0][i]
	proof, err := tree.InclusionProof(i, n)
	if err != nil {
		t.Fatalf("InclusionProof(%d, %d): %v", i, n, err)
	}
	if err := VerifyInclusion(leaf, i, n, proof, root); err != nil {
		t.Fatalf("VerifyInclusion(%d, %d): %v", i, n, err)
	}
	reject := func(what string, leaf Hash, i, n int64, proof []Hash, root Hash) {
		if err := VerifyInclusion(leaf, i, n, proof, root); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("(%d, %d) with %s: err = %v, want ErrInvalidProof", i, n, what, err)
		}
	}
	for bit := range 256 {
		reject("flipped leaf", flipBit(leaf, bit), i, n, proof, root)
		reject("flipped root", leaf, i, n, proof, flipBit(root, bit))
		for p := range proof {
			bad := append([]Hash(nil), proof...)
			bad[p] = flipBit(bad[p], bit)
			reject("flipped proof", leaf, i, n, bad, root)
		}
	}
	// The tree size is not flipped: RFC 6962 proofs do not bind it (leaf 0
	// has the same audit path shape in trees of size 20 and 21), which is why
	// the size must come from the same signed tree head as the root.
	for bit := range 64 {
		reject("flipped index", leaf, i^(1<<bit), n, proof, root)
	}
	reject("extra hash", leaf, i, n, append(proof[:len(proof):len(proof)], root), root)
	if len(proof) > 0 {
		reject("missing hash", leaf, i, n, proof[:len(proof)-1], root)
	}
}

func TestConsistencyProofs(t *testing.T) {
	tree := testTree(maxProofN)
	for n := int64(1); n <= maxProofN; n++ {
		t.Run(fmt.Sprint("n=", n), func(t *testing.T) {
			t.Parallel()
			rootN, _ := tree.Root(n)
			for m := int64(1); m <= n; m++ {
				rootM, _ := tree.Root(m)
				checkConsistency(t, tree, m, n, rootM, rootN)
			}
		})
	}
}

func checkConsistency(t *testing.T, tree *Tree, m, n int64, rootM, rootN Hash) {
	t.Helper()
	proof, err := tree.ConsistencyProof(m, n)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", m, n, err)
	}
	if err := VerifyConsistency(m, n, rootM, rootN, proof); err != nil {
		t.Fatalf("VerifyConsistency(%d, %d): %v", m, n, err)
	}
	reject := func(what string, m, n int64, rootM, rootN Hash, proof []Hash) {
		if err := VerifyConsistency(m, n, rootM, rootN, proof); !errors.Is(err, ErrInvalidProof) {
			t.Fatalf("(%d, %d) with %s: err = %v, want ErrInvalidProof", m, n, what, err)
		}
	}
	for bit := range 256 {
		reject("flipped first root", m, n, flipBit(rootM, bit), rootN, proof)
		if m != n { // with m == n both roots are the same value
			reject("flipped second root", m, n, rootM, flipBit(rootN, bit), proof)
		}
		for p := range proof {
			bad := append([]Hash(nil), proof...)
			bad[p] = flipBit(bad[p], bit)
			reject("flipped proof", m, n, rootM, rootN, bad)
		}
	}
	// As for inclusion, the second size is bound by the signed head, not by
	// the proof; the first size selects which subtrees are rebuilt.
	for bit := range 64 {
		reject("flipped first size", m^(1<<bit), n, rootM, rootN, proof)
	}
	reject("extra hash", m, n, rootM, rootN, append(proof[:len(proof):len(proof)], rootN))
	if len(proof) > 0 {
		reject("missing hash", m, n, rootM, rootN, proof[:len(proof)-1])
	}
}

func TestConsistencyFromEmptyTree(t *testing.T) {
	tree := testTree(3)
	root, _ := tree.Root(3)
	for i, proof := range [][]Hash{nil, {root}} {
		if err := VerifyConsistency(0, 3, EmptyRoot(), root, proof); !errors.Is(err, ErrInvalidProof) {
			t.Errorf("Test %d: err = %v, want ErrInvalidProof", i, err)
		}
	}
	if err := VerifyConsistency(0, 0, EmptyRoot(), EmptyRoot(), nil); err != nil {
		t.Errorf("empty tree with itself: %v", err)
	}
}

// FuzzVerifyInclusion feeds arbitrary proofs to the verifier: it must never
// panic and must accept only the one true proof for a leaf of a known tree.
func FuzzVerifyInclusion(f *testing.F) {
	tree := testTree(maxProofN)
	f.Add(int64(0), int64(1), []byte{}, byte(0))
	f.Add(int64(5), int64(13), []byte{}, byte(0))
	f.Add(int64(12), int64(13), []byte{}, byte(1))
	f.Add(int64(63), int64(64), make([]byte, 6*32), byte(2))
	f.Add(int64(-1), int64(-2), []byte{1, 2, 3}, byte(3))
	f.Fuzz(func(t *testing.T, index, n int64, raw []byte, mode byte) {
		var proof []Hash
		for len(raw) >= 32 {
			proof = append(proof, Hash(raw[:32]))
			raw = raw[32:]
		}
		var leaf, root Hash
		valid := index >= 0 && index < n && n <= maxProofN
		if valid {
			leaf, root = tree.levels[0][index], mustRoot(t, tree, n)
			if mode&1 == 1 { // start from the true proof, then splice in the fuzz input
				truth, _ := tree.InclusionProof(index, n)
				proof = append(truth, proof...)[:len(truth)]
				if mode&2 == 2 && len(raw) > 0 && len(proof) > 0 {
					proof[int(raw[0])%len(proof)][0] ^= raw[0] | 1
				}
			}
		}
		err := VerifyInclusion(leaf, index, n, proof, root)
		if err == nil && !(valid && isTrueProof(tree, index, n, proof)) {
			t.Fatalf("accepted a wrong proof for leaf %d of %d", index, n)
		}
	})
}

func mustRoot(t *testing.T, tree *Tree, n int64) Hash {
	root, err := tree.Root(n)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func isTrueProof(tree *Tree, index, n int64, proof []Hash) bool {
	truth, err := tree.InclusionProof(index, n)
	return err == nil && slices.Equal(truth, proof)
}
