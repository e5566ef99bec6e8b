package server

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// userCreds makes an IAM user with an access key and an inline policy.
func userCreds(t *testing.T, admin kmsv1.IdentityManagementServiceClient, name, policy string) auth.Credentials {
	t.Helper()
	ctx := context.Background()
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: name}); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if _, err := admin.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: name, PolicyName: "p", PolicyDocument: policy}); err != nil {
			t.Fatal(err)
		}
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: name})
	if err != nil {
		t.Fatal(err)
	}
	return auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}
}

// TestAssumeRole (S4): a role's trust policy and the caller's identity
// policy decide who may assume it; the session acts with the role's
// policies, narrowed by its session policy; DurationSeconds is checked;
// the session ends at its expiry, when its token is altered, or when its
// role is deleted; GetCallerIdentity and the audit log name the session.
func TestAssumeRole(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	rootConn := a.signed(t, a.root, a.clock.Now)
	admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
	k, err := kmsv1.NewKeyManagementServiceClient(rootConn).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()
	acct := DefaultAccountID
	roleARN := "arn:aws:iam::" + acct + ":role/app-role"
	alice := userCreds(t, admin, "alice", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+roleARN+`"}]}`)
	bob := userCreds(t, admin, "bob", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	if _, err := admin.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "app-role", MaxSessionDuration: 3600,
		AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:user/alice"},"Action":"sts:AssumeRole"}]}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "app-role", PolicyName: "use",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	stsAs := func(c auth.Credentials) kmsv1.SecurityTokenServiceClient {
		return kmsv1.NewSecurityTokenServiceClient(a.signed(t, c, a.clock.Now))
	}

	// Who may assume it.
	_, err = stsAs(bob).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "bob-session"})
	wantException(t, err, excAccessDenied)
	_, err2 := stsAs(bob).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: "arn:aws:iam::" + acct + ":role/no-such-role", RoleSessionName: "bob-session"})
	wantException(t, err2, excAccessDenied)
	for _, d := range []int32{899, 3601} {
		_, err := stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "s", DurationSeconds: d})
		wantException(t, err, excValidation)
	}
	_, err = stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "x"})
	wantException(t, err, excValidation) // a one-character session name

	resp, err := stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "alice-batch", DurationSeconds: 900})
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.GetCredentials()
	if !strings.HasPrefix(tc.GetAccessKeyId(), "ASIA") || tc.GetSessionToken() == "" || !tc.GetExpiration().AsTime().Equal(a.clock.Now().Add(15*time.Minute).Truncate(time.Second)) {
		t.Fatalf("credentials: %v", tc)
	}
	session := auth.Credentials{AccessKeyID: tc.GetAccessKeyId(), SecretAccessKey: tc.GetSecretAccessKey(), SessionToken: tc.GetSessionToken()}
	kms := kmsv1.NewKeyManagementServiceClient(a.signed(t, session, a.clock.Now))
	enc, err := kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	if err != nil {
		t.Fatalf("the session encrypts with the role's policy: %v", err)
	}
	if _, err := kms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()}); err != nil {
		t.Fatal(err)
	}
	_, err = kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	wantException(t, err, excAccessDenied)
	id, err := stsAs(session).GetCallerIdentity(ctx, &kmsv1.GetCallerIdentityRequest{})
	if err != nil || id.GetArn() != "arn:aws:sts::"+acct+":assumed-role/app-role/alice-batch" || !strings.HasSuffix(id.GetUserId(), ":alice-batch") {
		t.Fatalf("GetCallerIdentity of the session: %v %v", id, err)
	}
	if id, err := stsAs(alice).GetCallerIdentity(ctx, &kmsv1.GetCallerIdentityRequest{}); err != nil || id.GetArn() != "arn:aws:iam::"+acct+":user/alice" {
		t.Fatalf("GetCallerIdentity of alice: %v %v", id, err)
	}

	// A session policy narrows the session.
	narrow, err := stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "encrypt-only",
		Policy: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`})
	if err != nil {
		t.Fatal(err)
	}
	nc := narrow.GetCredentials()
	nkms := kmsv1.NewKeyManagementServiceClient(a.signed(t, auth.Credentials{AccessKeyID: nc.GetAccessKeyId(), SecretAccessKey: nc.GetSecretAccessKey(), SessionToken: nc.GetSessionToken()}, a.clock.Now))
	if _, err := nkms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	_, err = nkms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
	wantException(t, err, excAccessDenied)

	// An altered token, a token with another session's key id.
	bad := session
	bad.SessionToken = session.SessionToken[:len(session.SessionToken)-2] + "AA"
	_, err = kmsv1.NewKeyManagementServiceClient(a.signed(t, bad, a.clock.Now)).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	wantException(t, err, excUnauthenticated)
	swapped := session
	swapped.AccessKeyID = nc.GetAccessKeyId()
	_, err = kmsv1.NewKeyManagementServiceClient(a.signed(t, swapped, a.clock.Now)).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	wantException(t, err, excUnauthenticated)

	// Expiry.
	a.clock.Advance(15 * time.Minute)
	_, err = kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	wantException(t, err, excExpiredToken)

	// Deleting the role ends its sessions.
	fresh, err := stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "last"})
	if err != nil {
		t.Fatal(err)
	}
	fc := fresh.GetCredentials()
	fkms := kmsv1.NewKeyManagementServiceClient(a.signed(t, auth.Credentials{AccessKeyID: fc.GetAccessKeyId(), SecretAccessKey: fc.GetSecretAccessKey(), SessionToken: fc.GetSessionToken()}, a.clock.Now))
	if _, err := fkms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteRolePolicy(ctx, &kmsv1.DeleteRolePolicyRequest{RoleName: "app-role", PolicyName: "use"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteRole(ctx, &kmsv1.DeleteRoleRequest{RoleName: "app-role"}); err != nil {
		t.Fatal(err)
	}
	_, err = fkms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	wantException(t, err, excUnauthenticated)

	// The records: sessions named with their role, no secret or token.
	events, err := kmsv1.NewAuditServiceClient(rootConn).GetEvents(ctx, &kmsv1.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	sessions := 0
	for _, e := range events.GetEvents() {
		rec := string(e.GetRecord())
		for _, secret := range []string{session.SecretAccessKey, session.SessionToken, nc.GetSecretAccessKey(), nc.GetSessionToken()} {
			if strings.Contains(rec, secret) {
				t.Fatalf("a session's secret or token in the record of %s", rec)
			}
		}
		var r struct {
			UserIdentity struct {
				Type           string
				SessionContext struct{ SessionIssuer struct{ UserName string } }
			} `json:"userIdentity"`
		}
		json.Unmarshal(e.GetRecord(), &r)
		if r.UserIdentity.Type == "AssumedRole" {
			sessions++
			if r.UserIdentity.SessionContext.SessionIssuer.UserName != "app-role" {
				t.Errorf("session record without its role: %s", rec)
			}
		}
	}
	if sessions < 5 {
		t.Fatalf("%d records of session calls", sessions)
	}
}
