package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
)

// VerifyLog checks an exported log offline: events are the records in log
// order, exactly as hashed (leaf i is LeafHash(events[i])), and heads the
// signed tree heads in the order they were signed. It returns nil if
//
//   - every head verifies under pub and is well formed,
//   - the heads form a chain: the first has PrevSize 0, each next one has
//     PrevSize equal to the Size of the one before, and timestamps never go
//     backwards (so no head was removed, added or reordered),
//   - the root of every head equals the root recomputed over the first Size
//     records (all heads then describe one append-only tree, which implies
//     they are pairwise consistent), and
//   - no signed record repeats the eventID of an earlier one (a record
//     copied to a later position is a forgery even though it hashes
//     correctly), and
//   - the last head covers every record (no unsigned record is accepted).
//
// Otherwise it returns a *TamperError, which wraps ErrTampered. Heads are
// checked in order and the first failing one decides the error. Its Index is
//
//   - for a root mismatch or a head larger than the export, the first record
//     whose leaf hash differs from the leaf hashes the head carries (or the
//     first missing record), when the head carries Leaves that are bound by
//     its root; this is exactly the first modified, removed, inserted or
//     reordered record, because the records before the previous head are
//     verified and the carried hashes are authentic;
//   - otherwise the first record not covered by an earlier verified head
//     (the previous head's Size): a lower bound on the first changed record;
//   - for records past the last head, the last head's Size.
//
// With no heads and no events the log is empty and valid.
func VerifyLog(events [][]byte, heads []SignedTreeHead, pub ed25519.PublicKey) error {
	return VerifyLogFrom(0, events, heads, pub)
}

// VerifyLogFrom is VerifyLog for a log whose first start records were
// removed (by a retention policy): events holds the records from position
// start on. The leaf hashes of the removed records are taken from the
// Leaves of the heads that cover them, which must carry them; they are
// trusted only as far as those heads' signatures and roots verify, so a
// changed hash is reported like a changed record. Indexes in a
// *TamperError are log positions.
func VerifyLogFrom(start int64, events [][]byte, heads []SignedTreeHead, pub ed25519.PublicKey) error {
	var tree Tree
	if start < 0 {
		return fmt.Errorf("%w: negative start %d", ErrMalformedExport, start)
	}
	for _, sth := range heads {
		if tree.Size() >= start {
			break
		}
		if uint64(tree.Size()) != sth.Head.PrevSize || uint64(len(sth.Leaves)) != sth.Head.Size-sth.Head.PrevSize {
			return tamper(uint64(tree.Size()), -1, fmt.Sprintf(
				"the leaf hashes of removed records %d to %d are not in the signed heads", tree.Size(), start-1))
		}
		for _, l := range sth.Leaves {
			if tree.Size() < start {
				tree.Append(l)
			}
		}
	}
	if tree.Size() < start {
		return tamper(uint64(tree.Size()), -1, fmt.Sprintf(
			"the leaf hashes of removed records %d to %d are not in the signed heads", tree.Size(), start-1))
	}
	for _, e := range events {
		tree.Append(LeafHash(e))
	}
	total := tree.Size()
	var prev TreeHead
	for i, sth := range heads {
		h, err := VerifySignedTreeHead(pub, sth)
		if err != nil {
			return tamper(prev.Size, i, fmt.Sprintf("head %d: %v", i, err))
		}
		if h.PrevSize != prev.Size || h.Timestamp.Before(prev.Timestamp) {
			return tamper(min(prev.Size, h.PrevSize), i, fmt.Sprintf(
				"head %d: chain broken (previous size %d, last verified head has size %d)", i, h.PrevSize, prev.Size))
		}
		if err := matchHead(&tree, total, h, sth.Leaves, i); err != nil {
			return err
		}
		prev = h
	}
	// Every signed record is authentic; a repeated one was copied.
	if covered := int64(prev.Size) - start; covered > 0 {
		if err := uniqueEventIDs(start, events[:min(covered, int64(len(events)))]); err != nil {
			return err
		}
	}
	if n := uint64(total); n > prev.Size {
		return tamper(prev.Size, -1, fmt.Sprintf("%d records past the last signed tree head", n-prev.Size))
	}
	return nil
}

// matchHead checks that the recomputed tree agrees with verified head h
// (the i-th) and, if not, locates the first differing record.
func matchHead(tree *Tree, total int64, h TreeHead, leaves []Hash, i int) error {
	if h.Size <= uint64(tree.Size()) {
		root, err := tree.Root(int64(h.Size))
		if err != nil {
			panic("audit: bad math: " + err.Error())
		}
		if equalHash(root, h.Root) {
			return nil
		}
	}
	if j, ok := firstMismatch(tree, total, h, leaves); ok {
		return tamper(j, i, fmt.Sprintf("head %d (size %d): record %d differs from the signed tree", i, h.Size, j))
	}
	return tamper(h.PrevSize, i, fmt.Sprintf("head %d (size %d): root does not match records %d to %d",
		i, h.Size, h.PrevSize, h.Size-1))
}

// firstMismatch uses the leaf hashes carried by head h to find the first
// record in [h.PrevSize, h.Size) whose leaf hash differs from the signed
// tree's, or the first missing one. It reports false when leaves is absent
// or not bound by h.Root. The records before h.PrevSize must be verified.
func firstMismatch(tree *Tree, total int64, h TreeHead, leaves []Hash) (uint64, bool) {
	if uint64(len(leaves)) != h.Size-h.PrevSize {
		return 0, false
	}
	signed, err := tree.LeafHashes(0, int64(h.PrevSize))
	if err != nil {
		return 0, false
	}
	var claimed Tree
	for _, l := range append(signed, leaves...) {
		claimed.Append(l)
	}
	if root, _ := claimed.Root(int64(h.Size)); !equalHash(root, h.Root) {
		return 0, false
	}
	for j := h.PrevSize; j < h.Size; j++ {
		if j >= uint64(total) || !equalHash(tree.levels[0][j], leaves[j-h.PrevSize]) {
			return j, true
		}
	}
	return 0, false
}

func tamper(index uint64, head int, reason string) error {
	return &TamperError{Index: int64(index), Head: head, Reason: reason}
}

// uniqueEventIDs reports a record that repeats the eventID of an earlier
// one: a signed record copied to another position (with its MAC, behind
// kmsd's back) verifies as a leaf, but no request is recorded twice.
// Records that are not JSON objects are left to the tree checks.
func uniqueEventIDs(start int64, events [][]byte) error {
	first := make(map[string]int64, len(events))
	for i, e := range events {
		var r struct {
			EventID string `json:"eventID"`
		}
		if json.Unmarshal(e, &r) != nil || r.EventID == "" {
			continue
		}
		pos := start + int64(i)
		if prev, dup := first[r.EventID]; dup {
			return tamper(uint64(pos), -1, fmt.Sprintf("record %d repeats the eventID of record %d", pos, prev))
		}
		first[r.EventID] = pos
	}
	return nil
}
