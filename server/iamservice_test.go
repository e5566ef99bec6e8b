package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/iam"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

const (
	testIdentityDoc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`
	testTrustDoc    = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`
)

func newIAMHarness(t *testing.T) (*harness, kmsv1.IdentityManagementServiceClient) {
	t.Helper()
	h := newHarness(t)
	return h, kmsv1.NewIdentityManagementServiceClient(h.conn)
}

// mustIAM(c.Call(...))(t) fails the test if the call failed.
func mustIAM[T any](resp T, err error) func(*testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// TestIAMUsersAndAccessKeys: a user's life with its access keys: ids and
// ARNs as AWS's, the secret answered once and stored only wrapped, two
// keys at most, deletion refused while anything is attached.
func TestIAMUsersAndAccessKeys(t *testing.T) {
	h, c := newIAMHarness(t)
	ctx := context.Background()
	u := mustIAM(c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "Alice", Path: "/eng/"}))(t).GetUser()
	if !strings.HasPrefix(u.GetUserId(), "AIDA") || len(u.GetUserId()) != 21 || u.GetArn() != "arn:aws:iam::111122223333:user/eng/Alice" ||
		u.GetCreateDate().AsTime() != h.clock.Now() {
		t.Fatalf("CreateUser = %v", u)
	}
	if _, err := iam.UserPrincipal(u.GetArn(), u.GetUserId()); err != nil {
		t.Fatalf("the user's ARN is not a principal: %v", err)
	}
	_, err := c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "alice"})
	wantException(t, err, excEntityExists)
	got := mustIAM(c.GetUser(ctx, &kmsv1.GetUserRequest{UserName: "ALICE"}))(t).GetUser()
	if got.GetUserName() != "Alice" || got.GetUserId() != u.GetUserId() {
		t.Fatalf("GetUser = %v", got)
	}

	k1 := mustIAM(c.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "alice"}))(t).GetAccessKey()
	if !strings.HasPrefix(k1.GetAccessKeyId(), "AKIA") || len(k1.GetAccessKeyId()) != 20 || len(k1.GetSecretAccessKey()) != 40 ||
		k1.GetStatus() != "Active" || k1.GetUserName() != "Alice" {
		t.Fatalf("CreateAccessKey = %v", k1)
	}
	stored, ok := h.store.AccessKey(k1.GetAccessKeyId())
	if !ok || bytes.Contains(stored.WrappedSecret, []byte(k1.GetSecretAccessKey())) {
		t.Fatalf("stored access key: %v, secret in the clear: %v", ok, ok && bytes.Contains(stored.WrappedSecret, []byte(k1.GetSecretAccessKey())))
	}
	if secret, err := h.srv.accessKeySecret(stored); err != nil || secret != k1.GetSecretAccessKey() {
		t.Fatalf("accessKeySecret = %q, %v", secret, err)
	}
	moved := stored
	moved.AccessKeyID = "AKIAOTHERKEY00000000" // the AAD binds the id
	if _, err := h.srv.accessKeySecret(moved); err == nil {
		t.Fatal("a wrapped secret unwrapped under another access key id")
	}
	mustIAM(c.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "Alice"}))(t)
	_, err = c.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "Alice"})
	wantException(t, err, excLimitExceeded)
	_, err = c.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "bob"})
	wantException(t, err, excNoSuchEntity)

	list := mustIAM(c.ListAccessKeys(ctx, &kmsv1.ListAccessKeysRequest{UserName: "Alice"}))(t)
	if len(list.GetAccessKeyMetadata()) != 2 || list.GetIsTruncated() || strings.Contains(list.String(), k1.GetSecretAccessKey()) {
		t.Fatalf("ListAccessKeys = %v", list)
	}
	mustIAM(c.UpdateAccessKey(ctx, &kmsv1.UpdateAccessKeyRequest{AccessKeyId: k1.GetAccessKeyId(), Status: "Inactive"}))(t)
	if k, _ := h.store.AccessKey(k1.GetAccessKeyId()); k.Status != "Inactive" {
		t.Fatalf("status %q after UpdateAccessKey", k.Status)
	}
	_, err = c.UpdateAccessKey(ctx, &kmsv1.UpdateAccessKeyRequest{AccessKeyId: k1.GetAccessKeyId(), Status: "Off"})
	wantException(t, err, excValidation)
	_, err = c.DeleteAccessKey(ctx, &kmsv1.DeleteAccessKeyRequest{AccessKeyId: k1.GetAccessKeyId(), UserName: "carol"})
	wantException(t, err, excNoSuchEntity)

	_, err = c.DeleteUser(ctx, &kmsv1.DeleteUserRequest{UserName: "Alice"})
	wantException(t, err, excDeleteConflict)
	for _, k := range list.GetAccessKeyMetadata() {
		mustIAM(c.DeleteAccessKey(ctx, &kmsv1.DeleteAccessKeyRequest{AccessKeyId: k.GetAccessKeyId(), UserName: "Alice"}))(t)
	}
	mustIAM(c.DeleteUser(ctx, &kmsv1.DeleteUserRequest{UserName: "alice"}))(t)
	_, err = c.GetUser(ctx, &kmsv1.GetUserRequest{UserName: "Alice"})
	wantException(t, err, excNoSuchEntity)
}

// TestIAMPolicies: inline policies are parsed when written (the error
// names the bad element), managed policies attach by ARN, and a user's
// identity policies include its groups'.
func TestIAMPolicies(t *testing.T) {
	h, c := newIAMHarness(t)
	ctx := context.Background()
	mustIAM(c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "app"}))(t)
	mustIAM(c.CreateGroup(ctx, &kmsv1.CreateGroupRequest{GroupName: "devs"}))(t)
	mustIAM(c.AddUserToGroup(ctx, &kmsv1.AddUserToGroupRequest{GroupName: "devs", UserName: "app"}))(t)

	bad := strings.Replace(testIdentityDoc, "Allow", "Alow", 1)
	_, err := c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "p", PolicyDocument: bad})
	wantException(t, err, excMalformedPolicy)
	if !strings.Contains(statusMessage(err), "Statement[0].Effect") {
		t.Errorf("the error does not name the bad element: %v", err)
	}
	_, err = c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "p", PolicyDocument: testTrustDoc})
	wantException(t, err, excMalformedPolicy)
	mustIAM(c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "Encrypt", PolicyDocument: testIdentityDoc}))(t)
	gp := mustIAM(c.GetUserPolicy(ctx, &kmsv1.GetUserPolicyRequest{UserName: "APP", PolicyName: "encrypt"}))(t)
	if gp.GetUserName() != "app" || gp.GetPolicyName() != "Encrypt" || gp.GetPolicyDocument() != testIdentityDoc {
		t.Fatalf("GetUserPolicy = %v", gp)
	}
	names := mustIAM(c.ListUserPolicies(ctx, &kmsv1.ListUserPoliciesRequest{UserName: "app"}))(t).GetPolicyNames()
	if len(names) != 1 || names[0] != "Encrypt" {
		t.Fatalf("ListUserPolicies = %v", names)
	}
	_, err = c.GetUserPolicy(ctx, &kmsv1.GetUserPolicyRequest{UserName: "app", PolicyName: "missing"})
	wantException(t, err, excNoSuchEntity)

	_, err = c.AttachUserPolicy(ctx, &kmsv1.AttachUserPolicyRequest{UserName: "app", PolicyArn: "arn:aws:iam::aws:policy/AdministratorAccess"})
	wantException(t, err, excNoSuchEntity)
	mustIAM(c.AttachGroupPolicy(ctx, &kmsv1.AttachGroupPolicyRequest{GroupName: "devs", PolicyArn: iam.KeyUser.ARN()}))(t)
	mustIAM(c.PutGroupPolicy(ctx, &kmsv1.PutGroupPolicyRequest{GroupName: "devs", PolicyName: "g", PolicyDocument: testIdentityDoc}))(t)
	att := mustIAM(c.ListAttachedGroupPolicies(ctx, &kmsv1.ListAttachedGroupPoliciesRequest{GroupName: "devs"}))(t)
	if len(att.GetAttachedPolicies()) != 1 || att.GetAttachedPolicies()[0].GetPolicyName() != "KmsdKeyUser" {
		t.Fatalf("ListAttachedGroupPolicies = %v", att)
	}
	pols := mustIAM(c.ListPolicies(ctx, &kmsv1.ListPoliciesRequest{OnlyAttached: true}))(t).GetPolicies()
	if len(pols) != 1 || pols[0].GetArn() != iam.KeyUser.ARN() || pols[0].GetAttachmentCount() != 1 {
		t.Fatalf("ListPolicies OnlyAttached = %v", pols)
	}
	if all := mustIAM(c.ListPolicies(ctx, &kmsv1.ListPoliciesRequest{}))(t).GetPolicies(); len(all) != len(iam.ManagedPolicies()) {
		t.Fatalf("ListPolicies lists %d policies", len(all))
	}

	// The policies the authorizer will evaluate for the user.
	ps, err := h.srv.userIdentityPolicies("app")
	if err != nil || len(ps) != 3 {
		t.Fatalf("userIdentityPolicies = %d policies, %v", len(ps), err)
	}
	p, _ := iam.UserPrincipal("arn:aws:iam::111122223333:user/app", "AIDA")
	req := &iam.Request{Principal: p, Action: "kms:Decrypt", Resource: "arn:aws:kms:us-east-1:111122223333:key/k", Time: h.clock.Now()}
	if d := iam.Evaluate(req, &iam.PolicySet{Identity: ps}); d.Allowed() {
		t.Fatalf("identity policies alone allow Decrypt without a key policy: %v", d)
	}

	_, err = c.DeleteGroup(ctx, &kmsv1.DeleteGroupRequest{GroupName: "devs"})
	wantException(t, err, excDeleteConflict)
	mustIAM(c.DetachGroupPolicy(ctx, &kmsv1.DetachGroupPolicyRequest{GroupName: "devs", PolicyArn: iam.KeyUser.ARN()}))(t)
	_, err = c.DetachGroupPolicy(ctx, &kmsv1.DetachGroupPolicyRequest{GroupName: "devs", PolicyArn: iam.KeyUser.ARN()})
	wantException(t, err, excNoSuchEntity)
	mustIAM(c.DeleteGroupPolicy(ctx, &kmsv1.DeleteGroupPolicyRequest{GroupName: "devs", PolicyName: "g"}))(t)
	mustIAM(c.RemoveUserFromGroup(ctx, &kmsv1.RemoveUserFromGroupRequest{GroupName: "devs", UserName: "app"}))(t)
	_, err = c.RemoveUserFromGroup(ctx, &kmsv1.RemoveUserFromGroupRequest{GroupName: "devs", UserName: "app"})
	wantException(t, err, excNoSuchEntity)
	mustIAM(c.DeleteGroup(ctx, &kmsv1.DeleteGroupRequest{GroupName: "devs"}))(t)
}

// TestIAMRoles: trust policies are checked as such; the session limit is
// 3600 to 43200 seconds.
func TestIAMRoles(t *testing.T) {
	h, c := newIAMHarness(t)
	ctx := context.Background()
	_, err := c.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "r", AssumeRolePolicyDocument: testIdentityDoc})
	wantException(t, err, excMalformedPolicy)
	_, err = c.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "r", AssumeRolePolicyDocument: testTrustDoc, MaxSessionDuration: 900})
	wantException(t, err, excValidation)
	r := mustIAM(c.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "Reader", AssumeRolePolicyDocument: testTrustDoc,
		Description: "reads"}))(t).GetRole()
	if !strings.HasPrefix(r.GetRoleId(), "AROA") || r.GetArn() != "arn:aws:iam::111122223333:role/Reader" || r.GetMaxSessionDuration() != 3600 {
		t.Fatalf("CreateRole = %v", r)
	}
	_, err = c.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "reader", AssumeRolePolicyDocument: testTrustDoc})
	wantException(t, err, excEntityExists)
	newTrust := strings.Replace(testTrustDoc, ":root", ":user/app", 1)
	mustIAM(c.UpdateAssumeRolePolicy(ctx, &kmsv1.UpdateAssumeRolePolicyRequest{RoleName: "reader", PolicyDocument: newTrust}))(t)
	if got := mustIAM(c.GetRole(ctx, &kmsv1.GetRoleRequest{RoleName: "Reader"}))(t).GetRole(); got.GetAssumeRolePolicyDocument() != newTrust {
		t.Fatalf("trust policy not updated: %v", got)
	}
	mustIAM(c.AttachRolePolicy(ctx, &kmsv1.AttachRolePolicyRequest{RoleName: "Reader", PolicyArn: iam.Auditor.ARN()}))(t)
	mustIAM(c.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "Reader", PolicyName: "p", PolicyDocument: testIdentityDoc}))(t)
	if ps, err := h.srv.roleIdentityPolicies("READER"); err != nil || len(ps) != 2 || ps[0].Name != "role/Reader/p" || ps[1].Name != iam.Auditor.ARN() {
		t.Fatalf("roleIdentityPolicies = %v, %v", ps, err)
	}
	_, err = c.DeleteRole(ctx, &kmsv1.DeleteRoleRequest{RoleName: "Reader"})
	wantException(t, err, excDeleteConflict)
	mustIAM(c.DetachRolePolicy(ctx, &kmsv1.DetachRolePolicyRequest{RoleName: "Reader", PolicyArn: iam.Auditor.ARN()}))(t)
	mustIAM(c.DeleteRolePolicy(ctx, &kmsv1.DeleteRolePolicyRequest{RoleName: "Reader", PolicyName: "P"}))(t)
	mustIAM(c.DeleteRole(ctx, &kmsv1.DeleteRoleRequest{RoleName: "Reader"}))(t)
	if roles := mustIAM(c.ListRoles(ctx, &kmsv1.ListRolesRequest{}))(t).GetRoles(); len(roles) != 0 {
		t.Fatalf("roles left: %v", roles)
	}
}

// TestIAMPaging: MaxItems, Marker and IsTruncated as AWS IAM's.
func TestIAMPaging(t *testing.T) {
	_, c := newIAMHarness(t)
	ctx := context.Background()
	for _, n := range []string{"e", "d", "c", "b", "a"} {
		mustIAM(c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: n}))(t)
		mustIAM(c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "e", PolicyName: "p" + n, PolicyDocument: testIdentityDoc}))(t)
	}
	var users, policies []string
	req := &kmsv1.ListUsersRequest{MaxItems: 2}
	preq := &kmsv1.ListUserPoliciesRequest{UserName: "e", MaxItems: 2}
	for range 3 {
		resp := mustIAM(c.ListUsers(ctx, req))(t)
		for _, u := range resp.GetUsers() {
			users = append(users, u.GetUserName())
		}
		req.Marker = resp.GetMarker()
		presp := mustIAM(c.ListUserPolicies(ctx, preq))(t)
		policies = append(policies, presp.GetPolicyNames()...)
		preq.Marker = presp.GetMarker()
		if resp.GetIsTruncated() != (resp.GetMarker() != "") || presp.GetIsTruncated() != (presp.GetMarker() != "") {
			t.Fatalf("IsTruncated and Marker disagree: %v %v", resp, presp)
		}
	}
	if strings.Join(users, "") != "abcde" || strings.Join(policies, ",") != "pa,pb,pc,pd,pe" || req.Marker != "" || preq.Marker != "" {
		t.Fatalf("pages: %v, %v (markers %q %q)", users, policies, req.Marker, preq.Marker)
	}
	_, err := c.ListUsers(ctx, &kmsv1.ListUsersRequest{Marker: "bogus"})
	wantException(t, err, excValidation)
	_, err = c.ListUserPolicies(ctx, &kmsv1.ListUserPoliciesRequest{UserName: "e", Marker: "bogus"})
	wantException(t, err, excValidation)
	_, err = c.ListUsers(ctx, &kmsv1.ListUsersRequest{MaxItems: 1001})
	wantException(t, err, excValidation)
}

// TestIAMValidation: bad input is refused before anything is proposed.
func TestIAMValidation(t *testing.T) {
	h, c := newIAMHarness(t)
	ctx := context.Background()
	long := strings.Repeat("a", 65)
	calls := []struct {
		name string
		call func() error
	}{
		{"user name with a space", func() error { _, err := c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "a b"}); return err }},
		{"user name too long", func() error { _, err := c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: long}); return err }},
		{"empty user name", func() error { _, err := c.GetUser(ctx, &kmsv1.GetUserRequest{}); return err }},
		{"path without slash", func() error {
			_, err := c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "a", Path: "eng"})
			return err
		}},
		{"path prefix", func() error { _, err := c.ListUsers(ctx, &kmsv1.ListUsersRequest{PathPrefix: "x"}); return err }},
		{"group name", func() error { _, err := c.CreateGroup(ctx, &kmsv1.CreateGroupRequest{GroupName: "a/b"}); return err }},
		{"role name too long", func() error {
			_, err := c.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: long, AssumeRolePolicyDocument: testTrustDoc})
			return err
		}},
		{"policy name", func() error {
			_, err := c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "a", PolicyName: "a b", PolicyDocument: testIdentityDoc})
			return err
		}},
		{"access key id", func() error {
			_, err := c.DeleteAccessKey(ctx, &kmsv1.DeleteAccessKeyRequest{AccessKeyId: "AKIA"})
			return err
		}},
		{"scope", func() error {
			_, err := c.ListPolicies(ctx, &kmsv1.ListPoliciesRequest{Scope: "Everything"})
			return err
		}},
	}
	for i, c := range calls {
		if err := c.call(); ExceptionName(err) != excValidation {
			t.Errorf("Test %d (%s): %v, want %s", i, c.name, err, excValidation)
		}
	}
	_, err := c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "a", PolicyName: "p", PolicyDocument: "{"})
	wantException(t, err, excMalformedPolicy)
	if _, ok := h.store.User("a"); ok {
		t.Fatal("a refused CreateUser created the user")
	}
}

// TestIAMAuditHasNoSecret: every call is recorded, and no record holds a
// secret access key in any encoding. The positive control finds the
// access key id in the same records.
func TestIAMAuditHasNoSecret(t *testing.T) {
	h, c := newIAMHarness(t)
	ctx := context.Background()
	mustIAM(c.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "app"}))(t)
	k := mustIAM(c.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "app"}))(t).GetAccessKey()
	mustIAM(c.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "app", PolicyName: "p", PolicyDocument: testIdentityDoc}))(t)
	secret := k.GetSecretAccessKey()
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string][]byte{"text": []byte(secret), "raw": raw, "hex": []byte(hex.EncodeToString(raw)),
		"base64 of text": []byte(base64.StdEncoding.EncodeToString([]byte(secret))), "json-escaped": []byte(strings.ReplaceAll(secret, "/", `\/`))}
	found := 0
	var names []string
	for _, rec := range h.allRecords(t) {
		for form, b := range forms {
			if bytes.Contains(rec, b) {
				t.Errorf("an audit record holds the secret (%s): %s", form, rec)
			}
		}
		if bytes.Contains(rec, []byte(k.GetAccessKeyId())) {
			found++
		}
	}
	for _, e := range h.allEvents(t) {
		names = append(names, e.EventName)
	}
	// (The later records are of the reads that fetched these.)
	if len(names) < 3 || strings.Join(names[:3], ",") != "CreateUser,CreateAccessKey,PutUserPolicy" || found != 1 {
		t.Fatalf("records %v; the access key id is in %d of them, want 1", names, found)
	}
}
