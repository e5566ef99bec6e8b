package keystore

import (
	"testing"
)

func TestReserveUsage(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("k"))
	mat := "00k"
	reserve := func(node string, seq, count uint64) {
		t.Helper()
		mustApply(t, s, &Mutation{Op: OpReserveUsage, Time: t0, KeyID: "k", MaterialID: mat,
			Reserve: &Reservation{Node: node, Seq: seq, Count: count, Limit: 100}})
	}
	allotted := func() (uint64, map[string]uint64) {
		t.Helper()
		k, err := s.Key("k")
		if err != nil {
			t.Fatal(err)
		}
		cur, _ := k.Current()
		return cur.Allotted, cur.AllottedTo
	}
	reserve("a", 1, 40)
	reserve("b", 1, 40)
	reserve("a", 1, 40) // proposed again: applied once
	if n, per := allotted(); n != 80 || per["a"] != 40 || per["b"] != 40 {
		t.Fatalf("allotted %d %v", n, per)
	}
	reserve("a", 2, 40) // only 20 left under the limit
	reserve("b", 2, 40) // none left
	if n, per := allotted(); n != 100 || per["a"] != 60 || per["b"] != 40 {
		t.Fatalf("allotted %d %v, want the limit exactly", n, per)
	}
	// The exhausted material is due for rotation; once rotated, nothing
	// more is allotted to it.
	due := s.DueForRotation(t0, 100)
	if len(due) != 1 || due[0].FromMaterialID != mat {
		t.Fatalf("due %v", due)
	}
	mustApply(t, s, &Mutation{Op: OpRotateKey, Time: t0, KeyID: "k", RotationType: RotationAutomatic,
		FromMaterialID: mat, UsageLimit: 100, Version: &Version{MaterialID: "01k", Wrapped: []byte("w"), CreationDate: t0}})
	reserve("a", 3, 40)
	k, _ := s.Key("k")
	if old, _ := k.Version(mat); old.Allotted != 100 || old.AllottedTo["a"] != 60 {
		t.Fatalf("old material %+v", old)
	}
	if cur, _ := k.Current(); cur.Allotted != 0 {
		t.Fatalf("a reservation for the old material went to the new: %+v", cur)
	}
	// A rotation by usage is refused before the limit is reached.
	err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpRotateKey, Time: t0, KeyID: "k", RotationType: RotationAutomatic,
		FromMaterialID: "01k", UsageLimit: 100, Version: &Version{MaterialID: "02k", Wrapped: []byte("w"), CreationDate: t0}})
	if err == nil {
		t.Fatal("rotation before the limit accepted")
	}
	if err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpReserveUsage, KeyID: "k", MaterialID: "01k"}); err == nil {
		t.Fatal("reservation without a request accepted")
	}
}
