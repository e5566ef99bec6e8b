package keystore

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// randomMutations returns n mutations over a few keys and aliases, many of
// them refused by the state the ones before leave (a key created twice,
// enabled while pending deletion, an alias to a missing key, ...).
func randomMutations(rng *rand.Rand, n int) []*Mutation {
	var out []*Mutation
	for i := range n {
		id := fmt.Sprintf("k%d", rng.IntN(8))
		alias := fmt.Sprintf("alias/a%d", rng.IntN(4))
		var m *Mutation
		switch rng.IntN(9) {
		case 0, 1:
			m = &Mutation{Op: OpCreateKey, Time: t0, Key: testKey(id)}
		case 2:
			m = &Mutation{Op: OpDisableKey, KeyID: id}
		case 3:
			m = &Mutation{Op: OpEnableKey, KeyID: id}
		case 4:
			m = &Mutation{Op: OpUpdateDescription, KeyID: id, Description: fmt.Sprintf("d%d", i)}
		case 5:
			m = &Mutation{Op: OpScheduleKeyDeletion, KeyID: id, DeletionDate: t0.Add(7 * 24 * time.Hour), PendingWindowInDays: 7}
		case 6:
			m = &Mutation{Op: OpCancelKeyDeletion, KeyID: id}
		case 7:
			m = &Mutation{Op: OpCreateAlias, AliasName: alias, KeyID: id, Time: t0}
		case 8:
			m = &Mutation{Op: OpDeleteAlias, AliasName: alias}
		}
		out = append(out, m)
	}
	return out
}

// ApplyMutations, whatever the chunks it is given, ends in the state Apply
// one entry at a time ends in, answers each entry as Apply did, keeps that
// state across a reopen, and skips entries applied before.
func TestApplyMutationsMatchesApply(t *testing.T) {
	for seed := range uint64(5) {
		rng := rand.New(rand.NewPCG(seed, 1))
		muts := randomMutations(rng, 400)
		one := openStore(t, "")
		var want []string
		for i, m := range muts {
			want = append(want, errText(one.Apply(uint64(i+1), m)))
		}
		dir := t.TempDir()
		batched := openStore(t, dir)
		var got []string
		for lo := 0; lo < len(muts); {
			hi := min(len(muts), lo+1+rng.IntN(40))
			var entries []IndexedMutation
			for i := lo; i < hi; i++ {
				entries = append(entries, IndexedMutation{Index: uint64(i + 1), Mutation: muts[i]})
			}
			errs, err := batched.ApplyMutations(entries)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				got = append(got, errText(e))
			}
			lo = hi
		}
		refused := 0
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("seed %d entry %d (%s): %q, Apply answered %q", seed, i+1, muts[i].Op, got[i], want[i])
			}
			if want[i] != "" {
				refused++
			}
		}
		if refused == 0 || refused == len(want) {
			t.Fatalf("seed %d: %d of %d refused: the sequence tests nothing", seed, refused, len(want))
		}
		if a, b := stateJSON(t, one), stateJSON(t, batched); a != b {
			t.Fatalf("seed %d: states differ\n%s\n%s", seed, a, b)
		}
		if one.Digest() != batched.Digest() || batched.AppliedIndex() != uint64(len(muts)) {
			t.Fatalf("seed %d: digests differ or applied index %d", seed, batched.AppliedIndex())
		}
		// Replaying entries applied already changes nothing.
		errs, err := batched.ApplyMutations([]IndexedMutation{{Index: 1, Mutation: muts[0]}, {Index: 2, Mutation: muts[1]}})
		if err != nil || errs[0] != nil || errs[1] != nil || batched.Digest() != one.Digest() {
			t.Fatalf("seed %d: replay: %v %v", seed, errs, err)
		}
		// What was committed is what a reopened store holds.
		state := stateJSON(t, batched)
		batched.Close()
		again := openStore(t, dir)
		if stateJSON(t, again) != state || again.AppliedIndex() != uint64(len(muts)) {
			t.Fatalf("seed %d: reopened store differs (applied %d)", seed, again.AppliedIndex())
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Entries that do not fit in one Badger transaction are committed in
// several, each whole.
func TestApplyMutationsLargerThanATransaction(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	const keys = 120
	var entries []IndexedMutation
	for i := range keys {
		entries = append(entries, IndexedMutation{Index: uint64(i + 1), Mutation: &Mutation{Op: OpCreateKey, Time: t0, Key: testKey(fmt.Sprintf("k%03d", i))}})
	}
	policy := `{"Statement":[{"Sid":"` + strings.Repeat("x", 30<<10) + `"}]}`
	for i := range keys {
		entries = append(entries, IndexedMutation{Index: uint64(keys + i + 1), Mutation: &Mutation{Op: OpPutKeyPolicy, KeyID: fmt.Sprintf("k%03d", i), Policy: policy}})
	}
	errs, err := s.ApplyMutations(entries)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Fatalf("entry %d: %v", i+1, e)
		}
	}
	s.Close()
	s = openStore(t, dir)
	if s.AppliedIndex() != 2*keys {
		t.Fatalf("applied index %d, want %d", s.AppliedIndex(), 2*keys)
	}
	for i := range keys {
		k, err := s.Key(fmt.Sprintf("k%03d", i))
		if err != nil || k.Policy != policy {
			t.Fatalf("k%03d after reopen: %v", i, err)
		}
	}
}
