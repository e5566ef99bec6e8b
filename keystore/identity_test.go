package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

const testAccount = "111122223333"

func iamMutation(op Op, a IdentityMutation) *Mutation {
	return &Mutation{Op: op, Time: t0, IAM: &a}
}

func testUser(name string) *User {
	return &User{UserName: name, UserID: "AIDA" + strings.ToUpper(fmt.Sprintf("%017x", len(name))),
		Arn: "arn:aws:iam::" + testAccount + ":user/" + name, Path: "/"}
}

func testGroup(name string) *Group {
	return &Group{GroupName: name, GroupID: "AGPAEXAMPLE" + name, Arn: "arn:aws:iam::" + testAccount + ":group/" + name, Path: "/"}
}

func testRole(name string) *Role {
	return &Role{RoleName: name, RoleID: "AROAEXAMPLE" + name, Arn: "arn:aws:iam::" + testAccount + ":role/" + name, Path: "/",
		AssumeRolePolicyDocument: `{"Statement":{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}}`,
		MaxSessionDuration:       3600}
}

func testAccessKey(id, user string) *AccessKey {
	return &AccessKey{AccessKeyID: id, UserName: user, WrappedSecret: []byte("wrapped secret of " + id)}
}

const testDoc = `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}}`

// seedIdentities: users alice (in group devs, with access key AKIA1) and
// bob; group devs; role app.
func seedIdentities(t *testing.T, s *Store) {
	t.Helper()
	for _, m := range []*Mutation{
		iamMutation(OpCreateUser, IdentityMutation{User: testUser("alice")}),
		iamMutation(OpCreateUser, IdentityMutation{User: testUser("bob")}),
		iamMutation(OpCreateGroup, IdentityMutation{Group: testGroup("devs")}),
		iamMutation(OpAddUserToGroup, IdentityMutation{GroupName: "devs", UserName: "alice"}),
		iamMutation(OpCreateRole, IdentityMutation{Role: testRole("app")}),
		iamMutation(OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA1", "alice")}),
	} {
		mustApply(t, s, m)
	}
}

// TestApplyIdentity: each row applies one mutation to the seeded state; a
// refused one changes nothing but the applied index.
func TestApplyIdentity(t *testing.T) {
	big := `{"Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + strings.Repeat("x", 2100) + `"}}`
	rows := []struct {
		op   Op
		a    IdentityMutation
		want error
	}{
		{OpCreateUser, IdentityMutation{User: testUser("carol")}, nil},
		{OpCreateUser, IdentityMutation{User: testUser("ALICE")}, ErrAlreadyExists},
		{OpCreateUser, IdentityMutation{}, ErrInvalidMutation},
		{OpDeleteUser, IdentityMutation{UserName: "bob"}, nil},
		{OpDeleteUser, IdentityMutation{UserName: "Bob"}, nil},
		{OpDeleteUser, IdentityMutation{UserName: "alice"}, ErrDeleteConflict},
		{OpDeleteUser, IdentityMutation{UserName: "nobody"}, ErrNotFound},
		{OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA2", "alice")}, nil},
		{OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA1", "bob")}, ErrAlreadyExists},
		{OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA2", "nobody")}, ErrNotFound},
		{OpCreateAccessKey, IdentityMutation{AccessKey: &AccessKey{AccessKeyID: "AKIA2", UserName: "bob"}}, ErrInvalidMutation},
		{OpUpdateAccessKey, IdentityMutation{AccessKeyID: "AKIA1", Status: AccessKeyInactive}, nil},
		{OpUpdateAccessKey, IdentityMutation{AccessKeyID: "AKIA1", UserName: "alice", Status: AccessKeyActive}, nil},
		{OpUpdateAccessKey, IdentityMutation{AccessKeyID: "AKIA1", UserName: "bob", Status: AccessKeyInactive}, ErrNotFound},
		{OpUpdateAccessKey, IdentityMutation{AccessKeyID: "AKIA1", Status: "Disabled"}, ErrInvalidMutation},
		{OpDeleteAccessKey, IdentityMutation{AccessKeyID: "AKIA1"}, nil},
		{OpDeleteAccessKey, IdentityMutation{AccessKeyID: "AKIA9"}, ErrNotFound},
		{OpCreateGroup, IdentityMutation{Group: testGroup("ops")}, nil},
		{OpCreateGroup, IdentityMutation{Group: testGroup("DEVS")}, ErrAlreadyExists},
		{OpDeleteGroup, IdentityMutation{GroupName: "devs"}, ErrDeleteConflict},
		{OpDeleteGroup, IdentityMutation{GroupName: "ops"}, ErrNotFound},
		{OpAddUserToGroup, IdentityMutation{GroupName: "devs", UserName: "BOB"}, nil},
		{OpAddUserToGroup, IdentityMutation{GroupName: "devs", UserName: "alice"}, nil},
		{OpAddUserToGroup, IdentityMutation{GroupName: "devs", UserName: "nobody"}, ErrNotFound},
		{OpAddUserToGroup, IdentityMutation{GroupName: "ops", UserName: "bob"}, ErrNotFound},
		{OpRemoveUserFromGroup, IdentityMutation{GroupName: "devs", UserName: "Alice"}, nil},
		{OpRemoveUserFromGroup, IdentityMutation{GroupName: "devs", UserName: "bob"}, ErrNotFound},
		{OpCreateRole, IdentityMutation{Role: testRole("App")}, ErrAlreadyExists},
		{OpCreateRole, IdentityMutation{Role: &Role{RoleName: "x", RoleID: "AROAX", Arn: "arn"}}, ErrInvalidMutation},
		{OpDeleteRole, IdentityMutation{RoleName: "app"}, nil},
		{OpDeleteRole, IdentityMutation{RoleName: "nope"}, ErrNotFound},
		{OpUpdateAssumeRolePolicy, IdentityMutation{RoleName: "app", PolicyDocument: "{}"}, nil},
		{OpUpdateAssumeRolePolicy, IdentityMutation{RoleName: "nope", PolicyDocument: "{}"}, ErrNotFound},
		{OpPutUserPolicy, IdentityMutation{UserName: "bob", PolicyName: "p", PolicyDocument: testDoc}, nil},
		{OpPutUserPolicy, IdentityMutation{UserName: "bob", PolicyName: "p", PolicyDocument: big}, ErrLimitExceeded},
		{OpPutUserPolicy, IdentityMutation{UserName: "bob", PolicyName: "p"}, ErrInvalidMutation},
		{OpPutGroupPolicy, IdentityMutation{GroupName: "devs", PolicyName: "p", PolicyDocument: big}, nil},
		{OpPutRolePolicy, IdentityMutation{RoleName: "nope", PolicyName: "p", PolicyDocument: testDoc}, ErrNotFound},
		{OpDeleteUserPolicy, IdentityMutation{UserName: "bob", PolicyName: "p"}, ErrNotFound},
		{OpDeleteGroupPolicy, IdentityMutation{GroupName: "devs", PolicyName: "p"}, ErrNotFound},
		{OpAttachUserPolicy, IdentityMutation{UserName: "bob", PolicyARN: "arn:aws:iam::aws:policy/KmsdKeyUser"}, nil},
		{OpAttachRolePolicy, IdentityMutation{RoleName: "app", PolicyARN: "arn:aws:iam::aws:policy/KmsdAuditor"}, nil},
		{OpAttachGroupPolicy, IdentityMutation{GroupName: "devs"}, ErrInvalidMutation},
		{OpDetachRolePolicy, IdentityMutation{RoleName: "app", PolicyARN: "arn:aws:iam::aws:policy/KmsdAuditor"}, ErrNotFound},
		{OpDetachUserPolicy, IdentityMutation{UserName: "nobody", PolicyARN: "x"}, ErrNotFound},
	}
	for i, r := range rows {
		s := openStore(t, "")
		seedIdentities(t, s)
		before := s.Digest()
		m := iamMutation(r.op, r.a)
		err := s.Apply(s.AppliedIndex()+1, m)
		if !errors.Is(err, r.want) || (r.want == nil) != (err == nil) {
			t.Errorf("Test %d: %s %+v: %v, want %v", i, r.op, r.a, err, r.want)
			continue
		}
		if err != nil && stateWithoutIndex(t, s) != before {
			t.Errorf("Test %d: %s refused (%v) but changed the state", i, r.op, err)
		}
	}
	s := openStore(t, "")
	if err := s.Apply(1, &Mutation{Op: OpCreateUser, Time: t0}); !errors.Is(err, ErrInvalidMutation) {
		t.Errorf("CreateUser without IAM arguments: %v", err)
	}
}

// stateWithoutIndex is the digest the state would have at applied index
// of the seed (the index is part of the digest).
func stateWithoutIndex(t *testing.T, s *Store) [32]byte {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.v.applied--
	defer func() { s.v.applied++ }()
	return s.digestLocked()
}

// TestIdentityLifecycle follows a user from creation to deletion through
// the read accessors.
func TestIdentityLifecycle(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	seedIdentities(t, s)
	mustApply(t, s, iamMutation(OpPutUserPolicy, IdentityMutation{UserName: "alice", PolicyName: "Use", PolicyDocument: testDoc}))
	mustApply(t, s, iamMutation(OpPutUserPolicy, IdentityMutation{UserName: "alice", PolicyName: "USE", PolicyDocument: testDoc + " "}))
	mustApply(t, s, iamMutation(OpAttachGroupPolicy, IdentityMutation{GroupName: "devs", PolicyARN: "arn:aws:iam::aws:policy/KmsdKeyUser"}))
	mustApply(t, s, iamMutation(OpPutGroupPolicy, IdentityMutation{GroupName: "devs", PolicyName: "g", PolicyDocument: testDoc}))

	u, ok := s.User("ALICE")
	if !ok || u.UserName != "alice" || u.CreateDate != t0 {
		t.Fatalf("User(ALICE) = %+v, %v", u, ok)
	}
	refs, err := s.UserPolicies("alice")
	want := []PolicyRef{{From: "user/alice", Name: "Use", Document: testDoc + " "},
		{From: "group/devs", Name: "g", Document: testDoc},
		{From: "group/devs", Name: "arn:aws:iam::aws:policy/KmsdKeyUser", Managed: true}}
	if err != nil || fmt.Sprint(refs) != fmt.Sprint(want) {
		t.Fatalf("UserPolicies = %v, %v; want %v", refs, err, want)
	}
	k, ok := s.AccessKey("AKIA1")
	if !ok || k.UserName != "alice" || k.Status != AccessKeyActive || string(k.WrappedSecret) != "wrapped secret of AKIA1" {
		t.Fatalf("AccessKey = %+v, %v", k, ok)
	}
	k.WrappedSecret[0] = 'X' // a copy
	if k2, _ := s.AccessKey("AKIA1"); k2.WrappedSecret[0] != 'w' {
		t.Fatal("AccessKey returned the stored slice")
	}
	if gs, _, err := s.GroupsForUser("alice", 0, ""); err != nil || len(gs) != 1 || gs[0].GroupName != "devs" {
		t.Fatalf("GroupsForUser = %v, %v", gs, err)
	}
	if n := s.EntitiesForPolicy("arn:aws:iam::aws:policy/KmsdKeyUser"); n != 1 {
		t.Fatalf("EntitiesForPolicy = %d", n)
	}

	// The store reopened holds the same state.
	digest := s.Digest()
	s.Close()
	s = openStore(t, dir)
	if s.Digest() != digest {
		t.Fatal("reopened store has another digest")
	}

	// Deleting the user: everything attached must go first.
	for _, m := range []*Mutation{
		iamMutation(OpDeleteAccessKey, IdentityMutation{AccessKeyID: "AKIA1", UserName: "alice"}),
		iamMutation(OpRemoveUserFromGroup, IdentityMutation{GroupName: "devs", UserName: "alice"}),
	} {
		if err := s.Apply(s.AppliedIndex()+1, iamMutation(OpDeleteUser, IdentityMutation{UserName: "alice"})); !errors.Is(err, ErrDeleteConflict) {
			t.Fatalf("DeleteUser before %s: %v", m.Op, err)
		}
		mustApply(t, s, m)
	}
	if err := s.Apply(s.AppliedIndex()+1, iamMutation(OpDeleteUser, IdentityMutation{UserName: "alice"})); !errors.Is(err, ErrDeleteConflict) {
		t.Fatalf("DeleteUser with an inline policy: %v", err)
	}
	mustApply(t, s, iamMutation(OpDeleteUserPolicy, IdentityMutation{UserName: "alice", PolicyName: "use"}))
	mustApply(t, s, iamMutation(OpDeleteUser, IdentityMutation{UserName: "alice"}))
	if _, ok := s.User("alice"); ok {
		t.Fatal("alice still exists")
	}
	if g, _ := s.Group("devs"); len(g.Members) != 0 {
		t.Fatalf("devs has members %v", g.Members)
	}
	if _, err := s.UserPolicies("alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UserPolicies of a deleted user: %v", err)
	}
}

// TestIdentityLimits: at most two access keys per user, ten groups per
// user, ten managed policies per entity.
func TestIdentityLimits(t *testing.T) {
	s := openStore(t, "")
	seedIdentities(t, s)
	mustApply(t, s, iamMutation(OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA2", "alice")}))
	err := s.Apply(s.AppliedIndex()+1, iamMutation(OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA3", "alice")}))
	if !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("third access key: %v", err)
	}
	for i := range MaxGroupsPerUser {
		name := fmt.Sprintf("g%02d", i)
		mustApply(t, s, iamMutation(OpCreateGroup, IdentityMutation{Group: testGroup(name)}))
		a := IdentityMutation{GroupName: name, UserName: "bob"}
		mustApply(t, s, iamMutation(OpAddUserToGroup, a))
		for j := range MaxAttachedPolicies {
			a.PolicyARN = fmt.Sprintf("arn:aws:iam::aws:policy/P%d", j)
			if i == 0 {
				mustApply(t, s, iamMutation(OpAttachGroupPolicy, a))
			}
		}
	}
	err = s.Apply(s.AppliedIndex()+1, iamMutation(OpAddUserToGroup, IdentityMutation{GroupName: "devs", UserName: "bob"}))
	if !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("eleventh group: %v", err)
	}
	err = s.Apply(s.AppliedIndex()+1, iamMutation(OpAttachGroupPolicy, IdentityMutation{GroupName: "g00", PolicyARN: "arn:aws:iam::aws:policy/P10"}))
	if !errors.Is(err, ErrLimitExceeded) {
		t.Errorf("eleventh managed policy: %v", err)
	}
	// Attaching a policy again is no change, and no limit.
	mustApply(t, s, iamMutation(OpAttachGroupPolicy, IdentityMutation{GroupName: "g00", PolicyARN: "arn:aws:iam::aws:policy/P3"}))
}

// TestIdentityReplay: an index applied already is skipped, whatever it
// carries.
func TestIdentityReplay(t *testing.T) {
	s := openStore(t, "")
	seedIdentities(t, s)
	idx := s.AppliedIndex() + 1
	mustApply(t, s, iamMutation(OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA2", "alice")}))
	want := s.Digest()
	for _, m := range []*Mutation{
		iamMutation(OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA2", "alice")}),
		iamMutation(OpCreateAccessKey, IdentityMutation{AccessKey: testAccessKey("AKIA3", "bob")}),
		iamMutation(OpDeleteAccessKey, IdentityMutation{AccessKeyID: "AKIA2"}),
	} {
		if err := s.Apply(idx, m); err != nil {
			t.Fatalf("replay of %d: %v", idx, err)
		}
		if s.Digest() != want {
			t.Fatalf("replay of index %d (%s) changed the state", idx, m.Op)
		}
	}
	if keys, _ := s.AccessKeys("alice"); len(keys) != 2 {
		t.Fatalf("alice has %d access keys, want 2", len(keys))
	}
	if _, ok := s.AccessKey("AKIA3"); ok {
		t.Fatal("the replayed AKIA3 exists")
	}
}

// TestIdentitySnapshotRestore: identities survive a snapshot and restore,
// and count in the digest.
func TestIdentitySnapshotRestore(t *testing.T) {
	src := openStore(t, "")
	before := src.Digest()
	seedIdentities(t, src)
	mustApply(t, src, iamMutation(OpPutRolePolicy, IdentityMutation{RoleName: "app", PolicyName: "p", PolicyDocument: testDoc}))
	if src.Digest() == before {
		t.Fatal("identities are not in the digest")
	}
	snap := snapshotBytes(t, src)
	dst := openStore(t, "")
	mustApply(t, dst, iamMutation(OpCreateUser, IdentityMutation{User: testUser("dropped")}))
	if err := dst.Restore(bytes.NewReader(snap)); err != nil {
		t.Fatal(err)
	}
	if dst.Digest() != src.Digest() {
		t.Fatal("restored store has another digest")
	}
	if _, ok := dst.User("dropped"); ok {
		t.Fatal("a user of the replaced state survived the restore")
	}
	if refs, err := dst.RolePolicies("app"); err != nil || len(refs) != 1 || refs[0].Document != testDoc {
		t.Fatalf("RolePolicies after restore = %v, %v", refs, err)
	}
	if gs, _, _ := dst.GroupsForUser("alice", 0, ""); len(gs) != 1 {
		t.Fatalf("membership index not rebuilt: %v", gs)
	}
	if keys, _ := dst.AccessKeys("ALICE"); len(keys) != 1 {
		t.Fatalf("access key index not rebuilt: %v", keys)
	}
	// The same mutation on both gives the same state again.
	m := iamMutation(OpDeleteAccessKey, IdentityMutation{AccessKeyID: "AKIA1"})
	mustApply(t, src, m)
	mustApply(t, dst, m)
	if dst.Digest() != src.Digest() {
		t.Fatal("digests differ after the same mutation")
	}
}

// TestIdentityPaging: listings page by name regardless of case and filter
// by path.
func TestIdentityPaging(t *testing.T) {
	s := openStore(t, "")
	for _, n := range []string{"dave", "Carol", "bob", "Alice", "eve"} {
		u := testUser(n)
		if n == "bob" || n == "eve" {
			u.Path = "/ops/"
		}
		mustApply(t, s, iamMutation(OpCreateUser, IdentityMutation{User: u}))
	}
	var names []string
	marker := ""
	for pages := 0; ; pages++ {
		users, next, err := s.Users("/", 2, marker)
		if err != nil || pages > 3 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, u := range users {
			names = append(names, u.UserName)
		}
		if next == "" {
			break
		}
		marker = next
	}
	if got := strings.Join(names, ","); got != "Alice,bob,Carol,dave,eve" {
		t.Fatalf("listed %s", got)
	}
	ops, next, err := s.Users("/ops/", 2, "")
	if err != nil || next != "" || len(ops) != 2 {
		t.Fatalf("path /ops/: %v, %q, %v", ops, next, err)
	}
	if _, _, err := s.Users("/", 1, "bogus"); !errors.Is(err, ErrInvalidMarker) {
		t.Fatalf("bad marker: %v", err)
	}
	if _, _, err := s.Roles("", 1, encodeMarker(markerUsers, "a")); !errors.Is(err, ErrInvalidMarker) {
		t.Fatalf("a users marker for roles: %v", err)
	}
}
