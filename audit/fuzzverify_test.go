package audit

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"slices"
	"testing"
	"time"
)

// fuzzLog builds a valid log of n records with a head every `every` records
// (the last head covers them all), each head carrying its leaf hashes.
func fuzzLog(tb testing.TB, n, every int) ([][]byte, []SignedTreeHead, ed25519.PublicKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	var recs [][]byte
	var heads []SignedTreeHead
	var tree Tree
	var prev uint64
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range n {
		e := &Event{EventVersion: EventVersion, EventName: "Encrypt", EventID: fmt.Sprintf("id-%03d", i),
			RequestParameters: map[string]any{"keyId": fmt.Sprintf("k-%d", i%3)}}
		rec, err := e.Canonical()
		if err != nil {
			tb.Fatal(err)
		}
		recs = append(recs, rec)
		tree.Append(LeafHash(rec))
		if (i+1)%every == 0 || i == n-1 {
			size := int64(i + 1)
			root, _ := tree.Root(size)
			sth, err := Sign(priv, TreeHead{Size: uint64(size), Root: root, Timestamp: ts.Add(time.Duration(i) * time.Second), PrevSize: prev})
			if err != nil {
				tb.Fatal(err)
			}
			sth.Leaves, _ = tree.LeafHashes(int64(prev), size)
			heads = append(heads, sth)
			prev = uint64(size)
		}
	}
	return recs, heads, priv.Public().(ed25519.PublicKey)
}

// FuzzAuditVerify (TESTPLAN F5): whatever records are changed, removed,
// inserted or reordered and whatever heads are altered, dropped or
// reordered, VerifyLog never accepts a log whose records or signed heads
// differ from those signed, and never panics. Each pair of input bytes is
// one edit: an operation and an operand.
func FuzzAuditVerify(f *testing.F) {
	recs, heads, pub := fuzzLog(f, 24, 5)
	if err := VerifyLog(recs, heads, pub); err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{{0, 3}, {1, 7}, {2, 4}, {3, 9}, {4, 1}, {5, 0}, {6, 2}, {7, 23}, {0, 200, 2, 13}, {8, 5}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, edits []byte) {
		r := make([][]byte, len(recs))
		for i := range recs {
			r[i] = bytes.Clone(recs[i])
		}
		h := slices.Clone(heads)
		for i := 0; i+1 < len(edits) && i < 16; i += 2 {
			op, x := edits[i]%9, int(edits[i+1])
			switch {
			case op == 0 && len(r) > 0: // change one byte of a record
				rec := r[x%len(r)]
				rec[(x*7)%len(rec)] ^= byte(x | 1)
			case op == 1 && len(r) > 0: // remove a record
				r = slices.Delete(r, x%len(r), x%len(r)+1)
			case op == 2 && len(r) > 1: // swap two neighbouring records
				j := x % (len(r) - 1)
				r[j], r[j+1] = r[j+1], r[j]
			case op == 3: // insert a copy of a record
				j := x % (len(r) + 1)
				r = slices.Insert(r, j, bytes.Clone(recs[x%len(recs)]))
			case op == 4 && len(h) > 0: // change a head's signature
				k := x % len(h)
				sig := bytes.Clone(h[k].Signature)
				sig[x%len(sig)] ^= 0x80
				h[k].Signature = sig
			case op == 5 && len(h) > 0: // drop a head, keeping its records
				h = slices.Delete(h, x%len(h), x%len(h)+1)
			case op == 6 && len(h) > 1: // swap two neighbouring heads
				k := x % (len(h) - 1)
				h[k], h[k+1] = h[k+1], h[k]
			case op == 7: // append a record no head covers
				r = append(r, bytes.Clone(recs[x%len(recs)]))
			case op == 8 && len(h) > 0: // change a head's statement
				k := x % len(h)
				h[k].Head.Timestamp = h[k].Head.Timestamp.Add(time.Millisecond)
			}
		}
		err := VerifyLog(r, h, pub)
		if err == nil && !sameLog(r, h, recs, heads) {
			t.Fatalf("edits %v accepted", edits)
		}
	})
}

func sameLog(r [][]byte, h []SignedTreeHead, recs [][]byte, heads []SignedTreeHead) bool {
	if len(r) != len(recs) || len(h) != len(heads) {
		return false
	}
	for i := range r {
		if !bytes.Equal(r[i], recs[i]) {
			return false
		}
	}
	for i := range h {
		if !bytes.Equal(h[i].Head.Marshal(), heads[i].Head.Marshal()) || !bytes.Equal(h[i].Signature, heads[i].Signature) {
			return false
		}
	}
	return true
}
