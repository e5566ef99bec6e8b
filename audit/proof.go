package audit

// VerifyInclusion checks that leaf is the leaf hash at index in the tree of
// size n with the given root, following RFC 9162 section 2.1.3.2. It returns
// nil on success and an error wrapping ErrInvalidProof otherwise.
func VerifyInclusion(leaf Hash, index, n int64, proof []Hash, root Hash) error {
	if index < 0 || index >= n {
		return invalidProof("leaf index %d out of range for tree size %d", index, n)
	}
	fn, sn := uint64(index), uint64(n-1)
	r := leaf
	for _, p := range proof {
		if sn == 0 {
			return invalidProof("inclusion proof too long")
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 {
		return invalidProof("inclusion proof too short")
	}
	if !equalHash(r, root) {
		return invalidProof("inclusion proof does not lead to the root")
	}
	return nil
}

// VerifyConsistency checks that the tree of size m with root rootM is a
// prefix of the tree of size n with root rootN, following RFC 9162 section
// 2.1.4.2. For m == n the proof must be empty and the roots equal. As in RFC
// 9162 there is no proof for m == 0 < n: every tree extends the empty tree, so
// such a call proves nothing and is refused. It returns nil on success and an
// error wrapping ErrInvalidProof otherwise.
func VerifyConsistency(m, n int64, rootM, rootN Hash, proof []Hash) error {
	switch {
	case m < 0 || n < m:
		return invalidProof("sizes %d and %d out of order", m, n)
	case m == n:
		if len(proof) != 0 || !equalHash(rootM, rootN) {
			return invalidProof("equal sizes need an empty proof and equal roots")
		}
		return nil
	case m == 0:
		return invalidProof("no consistency proof from the empty tree")
	case len(proof) == 0:
		return invalidProof("empty consistency proof")
	}
	path := proof
	if m&(m-1) == 0 {
		path = append([]Hash{rootM}, proof...)
	}
	fn, sn := uint64(m-1), uint64(n-1)
	for fn&1 == 1 {
		fn, sn = fn>>1, sn>>1
	}
	fr, sr := path[0], path[0]
	for _, c := range path[1:] {
		if sn == 0 {
			return invalidProof("consistency proof too long")
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = NodeHash(c, fr), NodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			sr = NodeHash(sr, c)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 {
		return invalidProof("consistency proof too short")
	}
	if !equalHash(fr, rootM) || !equalHash(sr, rootN) {
		return invalidProof("consistency proof does not lead to the roots")
	}
	return nil
}
