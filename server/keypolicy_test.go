package server

import (
	"context"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/auth"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// userClient makes an IAM user with an access key through the API and
// returns a client signing as it, and its ARN.
func (a *authServer) userClient(t *testing.T, name string) (kmsv1.KeyManagementServiceClient, string) {
	t.Helper()
	ctx := context.Background()
	admin := kmsv1.NewIdentityManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	u, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: name})
	if err != nil {
		t.Fatal(err)
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: name})
	if err != nil {
		t.Fatal(err)
	}
	creds := auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}
	return kmsv1.NewKeyManagementServiceClient(a.signed(t, creds, a.clock.Now)), u.GetUser().GetArn()
}

func rootStatement(actions string) string {
	return `{"Sid": "root", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::` + DefaultAccountID + `:root"}, "Action": ` + actions + `, "Resource": "*"}`
}

func policyDoc(statements ...string) string {
	return `{"Version": "2012-10-17", "Statement": [` + strings.Join(statements, ",") + `]}`
}

// TestKeyPolicies: each key is authorized against its own policy. A key
// policy can give an IAM user use of the key directly; a key policy
// without the root statement stops identity policies from counting (the
// key policy gate); PutKeyPolicy refuses a policy that would lock the
// caller out unless told to bypass the check; GetKeyPolicy returns what
// was put, and the default policy for a key made without one; a malformed
// policy is refused naming the bad element.
func TestKeyPolicies(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	root := kmsv1.NewKeyManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	alice, aliceARN := a.userClient(t, "alice")
	bob, _ := a.userClient(t, "bob")
	admin := kmsv1.NewIdentityManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	if _, err := admin.AttachUserPolicy(ctx, &kmsv1.AttachUserPolicyRequest{UserName: "bob", PolicyArn: iam.KeyUser.ARN()}); err != nil {
		t.Fatal(err)
	}

	// A key policy that lets alice encrypt, and keeps the root statement.
	direct := policyDoc(rootStatement(`"kms:*"`),
		`{"Sid": "alice", "Effect": "Allow", "Principal": {"AWS": "`+aliceARN+`"}, "Action": "kms:Encrypt", "Resource": "*"}`)
	k1, err := root.CreateKey(ctx, &kmsv1.CreateKeyRequest{Policy: direct})
	if err != nil {
		t.Fatal(err)
	}
	id1 := k1.GetKeyMetadata().GetKeyId()
	if _, err := alice.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id1, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("alice, named by the key policy, Encrypt: %v", err)
	}
	_, err = alice.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: id1, KeySpec: "AES_256"})
	wantException(t, err, excAccessDenied)
	if _, err := bob.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id1, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("bob, by his identity policy, Encrypt: %v", err)
	}
	got, err := root.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: id1, PolicyName: "default"})
	if err != nil || got.GetPolicy() != direct || got.GetPolicyName() != "default" {
		t.Fatalf("GetKeyPolicy = %v, %v", got, err)
	}
	names, err := root.ListKeyPolicies(ctx, &kmsv1.ListKeyPoliciesRequest{KeyId: id1})
	if err != nil || len(names.GetPolicyNames()) != 1 || names.GetPolicyNames()[0] != "default" {
		t.Fatalf("ListKeyPolicies = %v, %v", names, err)
	}

	// The key policy gate: without the root statement, bob's identity
	// policy no longer counts.
	gated := policyDoc(rootStatement(`["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"]`))
	k2, err := root.CreateKey(ctx, &kmsv1.CreateKeyRequest{Policy: gated})
	if err != nil {
		t.Fatal(err)
	}
	id2 := k2.GetKeyMetadata().GetKeyId()
	_, err = bob.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id2, Plaintext: []byte("x")})
	wantException(t, err, excAccessDenied)
	_, err = root.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id2, Plaintext: []byte("x")})
	wantException(t, err, excAccessDenied)
	if _, err := root.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id2}); err != nil {
		t.Fatalf("root DescribeKey under the gated policy: %v", err)
	}

	// The lockout safety check, on PutKeyPolicy and CreateKey.
	aliceOnly := policyDoc(`{"Effect": "Allow", "Principal": {"AWS": "` + aliceARN + `"}, "Action": "kms:*", "Resource": "*"}`)
	_, err = root.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: id2, PolicyName: "default", Policy: aliceOnly})
	wantException(t, err, excMalformedPolicy)
	if !strings.Contains(err.Error(), "will not allow you to update the key policy") {
		t.Errorf("lockout refusal: %v", err)
	}
	_, err = root.CreateKey(ctx, &kmsv1.CreateKeyRequest{Policy: aliceOnly})
	wantException(t, err, excMalformedPolicy)
	if _, err := root.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: id2, Policy: aliceOnly, BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatalf("PutKeyPolicy with the bypass: %v", err)
	}
	_, err = root.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: id2, Policy: gated})
	wantException(t, err, excAccessDenied)
	if _, err := alice.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id2, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("alice under the new policy: %v", err)
	}

	// A key made before key policies existed has the default policy.
	old := testKeyRecord(t, a, "")
	got, err = root.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: old})
	if err != nil || got.GetPolicy() != iam.DefaultKeyPolicy(DefaultAccountID) {
		t.Fatalf("GetKeyPolicy of an old key = %v, %v", got, err)
	}
	if _, err := bob.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: old}); err != nil {
		t.Fatalf("bob on an old key: %v", err)
	}

	// Malformed policies and names.
	for _, c := range []struct{ doc, names string }{
		{`{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}`, "Principal"},
		{policyDoc(`{"Effect": "Allow", "Principal": "*", "Action": "iam:CreateUser", "Resource": "*"}`), "Action"},
		{policyDoc(`{"Effect": "Maybe", "Principal": "*", "Action": "kms:*", "Resource": "*"}`), "Effect"},
		{`not json`, ""},
	} {
		_, err := root.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: id1, Policy: c.doc})
		wantException(t, err, excMalformedPolicy)
		if !strings.Contains(err.Error(), c.names) {
			t.Errorf("refusal of %s does not name %s: %v", c.doc, c.names, err)
		}
	}
	_, err = root.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: id1, PolicyName: "other"})
	wantException(t, err, excValidation)
}

// testKeyRecord creates a key through the store directly, with the given
// policy field, as a key made before key policies existed.
func testKeyRecord(t *testing.T, a *authServer, policy string) string {
	t.Helper()
	ctx := context.Background()
	k, err := a.srv.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := a.store.Key(k.GetKeyMetadata().GetKeyId())
	if err != nil {
		t.Fatal(err)
	}
	c := *stored
	c.ID = "00000000-0000-4000-8000-000000000001"
	c.Policy = policy
	if err := a.prop.ApplyMutation(ctx, &keystore.Mutation{Op: keystore.OpCreateKey, Time: a.clock.Now(), Key: &c}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}
