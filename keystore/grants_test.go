package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func testGrant(keyID, id, grantee string) *Grant {
	return &Grant{KeyID: keyID, GrantID: id, CreationDate: t0, GranteePrincipal: grantee,
		IssuingAccount: "arn:aws:iam::111122223333:root", Operations: []string{"Encrypt", "Decrypt"}}
}

// TestKeyPolicyAndGrants: PutKeyPolicy replaces the key's document; grants
// are added, found by grantee and retiring principal, listed in pages,
// created once by name, retired and revoked; deleting the key deletes
// them; a mutation for a missing key or grant changes nothing.
func TestKeyPolicyAndGrants(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("k1"))
	createKey(t, s, testKey("k2"))

	mustApply(t, s, &Mutation{Op: OpPutKeyPolicy, KeyID: "k1", Policy: `{"Statement":[]}`, Time: t0})
	if k, _ := s.Key("k1"); k.Policy != `{"Statement":[]}` {
		t.Errorf("policy = %q", k.Policy)
	}
	if err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpPutKeyPolicy, KeyID: "nope", Policy: "{}"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutKeyPolicy on a missing key: %v", err)
	}

	alice, bob := "arn:aws:iam::111122223333:user/alice", "arn:aws:iam::111122223333:user/bob"
	for i := range 5 {
		g := testGrant("k1", fmt.Sprintf("g%d", i), alice)
		if i == 4 {
			g.GranteePrincipal, g.RetiringPrincipal = bob, alice
		}
		mustApply(t, s, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: g})
	}
	mustApply(t, s, &Mutation{Op: OpCreateGrant, KeyID: "k2", Grant: testGrant("k2", "g9", alice)})
	// The same id again changes nothing.
	mustApply(t, s, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: testGrant("k1", "g0", bob)})
	if g, _ := s.Grant("k1", "g0"); g.GranteePrincipal != alice {
		t.Errorf("grant g0 replaced: %+v", g)
	}
	// By name: same parameters once, other parameters a new grant.
	named := testGrant("k1", "n1", alice)
	named.Name = "app"
	mustApply(t, s, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: named})
	again := *named
	again.GrantID = "n2"
	mustApply(t, s, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: &again})
	if _, err := s.Grant("k1", "n2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a repeated named grant was added: %v", err)
	}
	if g, ok := s.SameGrant(&again); !ok || g.GrantID != "n1" {
		t.Errorf("SameGrant = %v, %v", g, ok)
	}
	other := again
	other.GrantID, other.Operations = "n3", []string{"Decrypt"}
	mustApply(t, s, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: &other})
	if s.GrantCount("k1") != 7 {
		t.Errorf("GrantCount = %d, want 7", s.GrantCount("k1"))
	}

	if got := s.GrantsFor("k1", alice); len(got) != 6 {
		t.Errorf("GrantsFor(alice) = %d grants, want 6", len(got))
	}
	if got := s.GrantsFor("k2", bob); len(got) != 0 {
		t.Errorf("GrantsFor(k2, bob) = %v", got)
	}
	var ids []string
	marker := ""
	for pages := 0; ; pages++ {
		gs, next, err := s.Grants("k1", "", 3, marker)
		if err != nil || pages > 5 {
			t.Fatal(err, pages)
		}
		for _, g := range gs {
			ids = append(ids, g.GrantID)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if fmt.Sprint(ids) != "[g0 g1 g2 g3 g4 n1 n3]" {
		t.Errorf("paged grants: %v", ids)
	}
	if gs, _, _ := s.Grants("k1", bob, 0, ""); len(gs) != 1 || gs[0].GrantID != "g4" {
		t.Errorf("grants of bob: %v", gs)
	}
	if gs, _, _ := s.RetirableGrants(alice, 0, ""); len(gs) != 1 || gs[0].GrantID != "g4" {
		t.Errorf("retirable by alice: %v", gs)
	}

	mustApply(t, s, &Mutation{Op: OpRetireGrant, KeyID: "k1", GrantID: "g4"})
	mustApply(t, s, &Mutation{Op: OpRevokeGrant, KeyID: "k1", GrantID: "g0"})
	if gs, _, _ := s.RetirableGrants(alice, 0, ""); len(gs) != 0 {
		t.Errorf("retired grant still retirable: %v", gs)
	}
	if err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpRevokeGrant, KeyID: "k1", GrantID: "g0"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoking twice: %v", err)
	}

	// Snapshot, restore and reopen keep policies and grants.
	want := s.Digest()
	dir := t.TempDir()
	dst := openStore(t, dir)
	if err := dst.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatal(err)
	}
	if dst.Digest() != want {
		t.Error("restored digest differs")
	}
	dst.Close()
	re := openStore(t, dir)
	if re.Digest() != want || len(re.GrantsFor("k1", alice)) != 5 {
		t.Error("reopened store differs")
	}

	// Deleting a key deletes its grants.
	mustApply(t, s, &Mutation{Op: OpScheduleKeyDeletion, KeyID: "k2", DeletionDate: t0, PendingWindowInDays: 7})
	if err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpCreateGrant, KeyID: "k2", Grant: testGrant("k2", "late", alice)}); !errors.Is(err, ErrInvalidState) {
		t.Errorf("CreateGrant on a key pending deletion: %v", err)
	}
	mustApply(t, s, &Mutation{Op: OpDeleteKey, KeyID: "k2", Time: t0})
	if _, err := s.Grant("k2", "g9"); !errors.Is(err, ErrNotFound) {
		t.Errorf("grant of a deleted key: %v", err)
	}
	if gs, _, _ := s.Grants("k2", "", 0, ""); len(gs) != 0 {
		t.Errorf("grants of a deleted key: %v", gs)
	}
}

// TestGrantDigest: the digest covers key policies and grants.
func TestGrantDigest(t *testing.T) {
	a, b := openStore(t, ""), openStore(t, "")
	for _, s := range []*Store{a, b} {
		createKey(t, s, testKey("k1"))
	}
	mustApply(t, a, &Mutation{Op: OpPutKeyPolicy, KeyID: "k1", Policy: "A"})
	mustApply(t, b, &Mutation{Op: OpPutKeyPolicy, KeyID: "k1", Policy: "B"})
	if a.Digest() == b.Digest() {
		t.Error("different policies, same digest")
	}
	mustApply(t, a, &Mutation{Op: OpPutKeyPolicy, KeyID: "k1", Policy: "B"})
	mustApply(t, b, &Mutation{Op: OpPutKeyPolicy, KeyID: "k1", Policy: "B"})
	if a.Digest() != b.Digest() {
		t.Fatal("same state, different digests")
	}
	mustApply(t, a, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: testGrant("k1", "g1", "arn:aws:iam::111122223333:user/x")})
	mustApply(t, b, &Mutation{Op: OpCreateGrant, KeyID: "k1", Grant: testGrant("k1", "g1", "arn:aws:iam::111122223333:user/y")})
	if a.Digest() == b.Digest() {
		t.Error("different grants, same digest")
	}
	// Replaying an applied index changes nothing.
	before := a.Digest()
	if err := a.Apply(a.AppliedIndex(), &Mutation{Op: OpRevokeGrant, KeyID: "k1", GrantID: "g1"}); err != nil || a.Digest() != before {
		t.Errorf("replay: %v", err)
	}
}
