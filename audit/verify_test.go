package audit

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// testLog is an exported log: records, heads signed every `every` records
// (and one at the end), each carrying its interval's leaf hashes.
type testLog struct {
	events [][]byte
	heads  []SignedTreeHead
	pub    ed25519.PublicKey
}

func buildLog(t testing.TB, n, every int, priv ed25519.PrivateKey) testLog {
	t.Helper()
	var tree Tree
	var l testLog
	var prev uint64
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		b := mustCanonical(t, testEvent(i))
		l.events = append(l.events, b)
		tree.Append(LeafHash(b))
		if size := uint64(i + 1); size%uint64(every) == 0 || i == n-1 {
			l.heads = append(l.heads, signHead(t, priv, &tree, prev, size, start.Add(time.Duration(i)*time.Second)))
			prev = size
		}
	}
	l.pub = priv.Public().(ed25519.PublicKey)
	return l
}

func signHead(t testing.TB, priv ed25519.PrivateKey, tree *Tree, prev, size uint64, ts time.Time) SignedTreeHead {
	t.Helper()
	root, err := tree.Root(int64(size))
	if err != nil {
		t.Fatal(err)
	}
	sth, err := Sign(priv, TreeHead{Size: size, Root: root, Timestamp: ts, PrevSize: prev})
	if err != nil {
		t.Fatal(err)
	}
	sth.Leaves, _ = tree.LeafHashes(int64(prev), int64(size))
	return sth
}

func (l testLog) clone() testLog {
	return testLog{events: slices.Clone(l.events), heads: slices.Clone(l.heads), pub: l.pub}
}

func TestVerifyLogAccepts(t *testing.T) {
	priv := testKey("log")
	for i, c := range []struct{ n, every int }{{1, 1}, {7, 3}, {100, 100}, {1000, 100}, {1000, 1}, {64, 8}} {
		l := buildLog(t, c.n, c.every, priv)
		if err := VerifyLog(l.events, l.heads, l.pub); err != nil {
			t.Errorf("Test %d (%d records, head every %d): %v", i, c.n, c.every, err)
		}
		for h := range l.heads {
			l.heads[h].Leaves = nil
		}
		if err := VerifyLog(l.events, l.heads, l.pub); err != nil {
			t.Errorf("Test %d without leaf hashes: %v", i, err)
		}
	}
	if err := VerifyLog(nil, nil, priv.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("empty log: %v", err)
	}
}

// tamperCase alters a copy of the log and says which record VerifyLog must
// name (-1: any index, detection is all that is required).
type tamperCase struct {
	name  string
	extra bool // beyond the TESTPLAN A3 list: fewer trials
	apply func(t testing.TB, l *testLog, r *rand.Rand) int64
}

var tamperCases = []tamperCase{
	{"modify one record", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events))
		b := slices.Clone(l.events[i])
		b[r.IntN(len(b))] ^= 1 << r.IntN(8)
		l.events[i] = b
		return int64(i)
	}},
	{"delete one record", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events))
		l.events = slices.Delete(l.events, i, i+1)
		return int64(i)
	}},
	{"insert one record", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events) + 1)
		l.events = slices.Insert(l.events, i, mustCanonical(t, testEvent(1_000_000+i)))
		return int64(i)
	}},
	{"swap two adjacent records", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events) - 1)
		l.events[i], l.events[i+1] = l.events[i+1], l.events[i]
		return int64(i)
	}},
	{"truncate the tail", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		k := r.IntN(len(l.events))
		l.events = l.events[:k]
		return int64(k)
	}},
	{"drop a head", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		j := r.IntN(len(l.heads))
		l.heads = slices.Delete(l.heads, j, j+1)
		return -1
	}},
	{"drop a head and its records", true, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		j := r.IntN(len(l.heads) - 1) // the last interval is the tail: see "truncate the tail"
		lo, hi := l.heads[j].Head.PrevSize, l.heads[j].Head.Size
		l.events = slices.Delete(l.events, int(lo), int(hi))
		l.heads = slices.Delete(l.heads, j, j+1)
		return -1
	}},
	{"swap two heads", true, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		j := r.IntN(len(l.heads) - 1)
		l.heads[j], l.heads[j+1] = l.heads[j+1], l.heads[j]
		return -1
	}},
	{"modify a record and re-sign with a wrong key", false, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events))
		l.events[i] = mustCanonical(t, testEvent(2_000_000+i))
		resign(t, l, testKey("attacker"), false)
		return 0
	}},
	{"modify a record and re-sign with a wrong key under the right key ID", true, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events))
		l.events[i] = mustCanonical(t, testEvent(2_000_000+i))
		resign(t, l, testKey("attacker"), true)
		return 0
	}},
	{"modify a record and forge its carried leaf hash", true, func(t testing.TB, l *testLog, r *rand.Rand) int64 {
		i := r.IntN(len(l.events))
		l.events[i] = mustCanonical(t, testEvent(2_000_000+i))
		for j, h := range l.heads {
			if uint64(i) >= h.Head.PrevSize && uint64(i) < h.Head.Size {
				l.heads[j].Leaves = slices.Clone(h.Leaves)
				l.heads[j].Leaves[uint64(i)-h.Head.PrevSize] = LeafHash(l.events[i])
			}
		}
		return -1
	}},
}

// resign recomputes the tree over l.events and re-signs every head with
// priv, optionally claiming the honest key's ID.
func resign(t testing.TB, l *testLog, priv ed25519.PrivateKey, keepKeyID bool) {
	var tree Tree
	for _, e := range l.events {
		tree.Append(LeafHash(e))
	}
	for j, h := range l.heads {
		sth := signHead(t, priv, &tree, h.Head.PrevSize, h.Head.Size, h.Head.Timestamp)
		if keepKeyID {
			sth.KeyID = h.KeyID
		}
		l.heads[j] = sth
	}
}

// TestVerifyLogDetectsTampering is TESTPLAN A3: every alteration is detected
// and, for record edits, the first altered record is named exactly.
func TestVerifyLogDetectsTampering(t *testing.T) {
	trials := 1000
	if testing.Short() {
		trials = 100
	}
	base := buildLog(t, 1000, 100, testKey("log"))
	for _, c := range tamperCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(1, uint64(len(c.name))))
			n := trials
			if c.extra {
				n = trials / 5
			}
			for trial := range n {
				l := base.clone()
				want := c.apply(t, &l, r)
				checkTampered(t, fmt.Sprint("trial ", trial), VerifyLog(l.events, l.heads, l.pub), want)
			}
		})
	}
}

func checkTampered(t *testing.T, name string, err error, want int64) {
	t.Helper()
	var te *TamperError
	if !errors.Is(err, ErrTampered) || !errors.As(err, &te) {
		t.Fatalf("%s: err = %v, want a *TamperError", name, err)
	}
	if want >= 0 && te.Index != want {
		t.Fatalf("%s: named record %d, want %d (%v)", name, te.Index, want, err)
	}
}

// TestVerifyLogIndexRule checks the documented fallbacks of the index rule.
func TestVerifyLogIndexRule(t *testing.T) {
	priv := testKey("log")
	base := buildLog(t, 1000, 100, priv)
	for i, c := range []struct {
		name  string
		apply func(l *testLog)
		want  int64
	}{
		{"no leaf hashes: interval start", func(l *testLog) {
			l.heads[3].Leaves = nil
			l.events[345] = l.events[346]
		}, 300},
		{"forged leaf hashes: interval start", func(l *testLog) {
			l.heads[3].Leaves = slices.Clone(l.heads[3].Leaves)
			l.heads[3].Leaves[45] = LeafHash(l.events[346])
			l.events[345] = l.events[346]
		}, 300},
		{"unsigned records after the last head", func(l *testLog) {
			l.heads = l.heads[:9]
		}, 900},
		{"records but no heads", func(l *testLog) { l.heads = nil }, 0},
		{"wrong key on a middle head", func(l *testLog) {
			l.heads[4].Signature = ed25519.Sign(testKey("x"), l.heads[4].Head.Marshal())
		}, 400},
		{"head timestamps go backwards", func(l *testLog) {
			l.heads[5] = resignOne(t, priv, l.heads[5], func(h *TreeHead) { h.Timestamp = time.UnixMilli(0) })
		}, 500},
		{"head chain skips an interval", func(l *testLog) {
			l.heads[5] = resignOne(t, priv, l.heads[5], func(h *TreeHead) { h.PrevSize = 400 })
		}, 400},
	} {
		l := base.clone()
		c.apply(&l)
		checkTampered(t, fmt.Sprintf("Test %d (%s)", i, c.name), VerifyLog(l.events, l.heads, l.pub), c.want)
	}
}

func resignOne(t *testing.T, priv ed25519.PrivateKey, sth SignedTreeHead, f func(*TreeHead)) SignedTreeHead {
	h := sth.Head
	f(&h)
	out, err := Sign(priv, h)
	if err != nil {
		t.Fatal(err)
	}
	out.Leaves = sth.Leaves
	return out
}

func BenchmarkAppend10000(b *testing.B) {
	leaves := make([]Hash, 10000)
	for i := range leaves {
		leaves[i] = LeafHash(fmt.Appendf(nil, "leaf %d", i))
	}
	for b.Loop() {
		var tree Tree
		for _, l := range leaves {
			tree.Append(l)
		}
	}
}

func BenchmarkVerifyLog10000(b *testing.B) {
	l := buildLog(b, 10000, 100, testKey("log"))
	for b.Loop() {
		if err := VerifyLog(l.events, l.heads, l.pub); err != nil {
			b.Fatal(err)
		}
	}
}
