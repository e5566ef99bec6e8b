package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/auth"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// applyIAM applies an identity mutation to the test server's store.
func (a *authServer) applyIAM(t *testing.T, op keystore.Op, m keystore.IdentityMutation) {
	t.Helper()
	if err := a.prop.ApplyMutation(context.Background(), &keystore.Mutation{Op: op, Time: a.clock.Now(), IAM: &m}); err != nil {
		t.Fatalf("%s: %v", op, err)
	}
}

func (a *authServer) user(t *testing.T, name string) caller {
	t.Helper()
	arn := "arn:aws:iam::" + DefaultAccountID + ":user/" + name
	id := "AIDA" + strings.ToUpper(name) + strings.Repeat("X", 17-len(name))
	a.applyIAM(t, keystore.OpCreateUser, keystore.IdentityMutation{User: &keystore.User{UserName: name, UserID: id, Arn: arn, Path: "/", CreateDate: a.clock.Now()}})
	p, err := iam.UserPrincipal(arn, id)
	if err != nil {
		t.Fatal(err)
	}
	return caller{principal: p, userName: name, identity: audit.UserIdentity{Type: "IAMUser", ARN: arn}}
}

// TestAuthorization: identity policies (inline, managed, a group's) decide
// what an IAM user may do, on which key and under which encryption
// context; an explicit deny wins; the account root may do everything the
// default key policy gives it; a refusal does not tell whether the key
// exists.
func TestAuthorization(t *testing.T) {
	a := newAuthServer(t)
	s := a.srv
	ctx := context.Background()
	k1, err := s.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := s.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	id1, id2 := k1.GetKeyMetadata().GetKeyId(), k2.GetKeyMetadata().GetKeyId()
	enc, err := s.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id1, Plaintext: []byte("x"), EncryptionContext: map[string]string{"tenant": "acme"}})
	if err != nil {
		t.Fatal(err)
	}
	missing := "11111111-2222-3333-4444-555555555555"

	alice := a.user(t, "alice")
	a.applyIAM(t, keystore.OpPutUserPolicy, keystore.IdentityMutation{UserName: "alice", PolicyName: "use-k1", PolicyDocument: `{
		"Version": "2012-10-17",
		"Statement": [
			{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"], "Resource": "` + s.keyARN(id1) + `"},
			{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
			 "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "evil"}}}
		]}`})
	bob := a.user(t, "bob")
	a.applyIAM(t, keystore.OpAttachUserPolicy, keystore.IdentityMutation{UserName: "bob", PolicyARN: iam.KeyUser.ARN()})
	carol := a.user(t, "carol")
	a.applyIAM(t, keystore.OpCreateGroup, keystore.IdentityMutation{Group: &keystore.Group{GroupName: "auditors", GroupID: "AGPAAUDITORSXXXXXXXXX", Arn: "arn:aws:iam::" + DefaultAccountID + ":group/auditors", Path: "/", CreateDate: a.clock.Now()}})
	a.applyIAM(t, keystore.OpAddUserToGroup, keystore.IdentityMutation{GroupName: "auditors", UserName: "carol"})
	a.applyIAM(t, keystore.OpAttachGroupPolicy, keystore.IdentityMutation{GroupName: "auditors", PolicyARN: iam.Auditor.ARN()})
	nobody := a.user(t, "nobody")
	root := caller{principal: a.srv.auth.root, identity: audit.UserIdentity{Type: "Root", ARN: a.srv.auth.root.ARN}}

	const (
		kmsM   = "/kms.v1.KeyManagementService/"
		auditM = "/kms.v1.AuditService/"
	)
	cases := []struct {
		who    caller
		method string
		req    any
		allow  bool
	}{
		{alice, kmsM + "Encrypt", &kmsv1.EncryptRequest{KeyId: id1}, true},
		{alice, kmsM + "Encrypt", &kmsv1.EncryptRequest{KeyId: s.keyARN(id1)}, true},
		{alice, kmsM + "Encrypt", &kmsv1.EncryptRequest{KeyId: id2}, false},
		{alice, kmsM + "GenerateDataKey", &kmsv1.GenerateDataKeyRequest{KeyId: id1}, false},
		{alice, kmsM + "Decrypt", &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), EncryptionContext: map[string]string{"tenant": "acme"}}, true},
		{alice, kmsM + "Decrypt", &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), EncryptionContext: map[string]string{"tenant": "evil"}}, false},
		{alice, kmsM + "CreateKey", &kmsv1.CreateKeyRequest{}, false},
		{alice, auditM + "LookupEvents", &kmsv1.LookupEventsRequest{}, false},
		{bob, kmsM + "GenerateDataKey", &kmsv1.GenerateDataKeyRequest{KeyId: id2}, true},
		{bob, kmsM + "ReEncrypt", &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), DestinationKeyId: id2}, true},
		{bob, kmsM + "DescribeKey", &kmsv1.DescribeKeyRequest{KeyId: id2}, true},
		{bob, kmsM + "DisableKey", &kmsv1.DisableKeyRequest{KeyId: id2}, false},
		{bob, kmsM + "CreateKey", &kmsv1.CreateKeyRequest{}, false},
		{carol, auditM + "LookupEvents", &kmsv1.LookupEventsRequest{}, true},
		{carol, kmsM + "DescribeKey", &kmsv1.DescribeKeyRequest{KeyId: id1}, true},
		{carol, kmsM + "ListKeys", &kmsv1.ListKeysRequest{}, true},
		{carol, kmsM + "Encrypt", &kmsv1.EncryptRequest{KeyId: id1}, false},
		{carol, kmsM + "ScheduleKeyDeletion", &kmsv1.ScheduleKeyDeletionRequest{KeyId: id1}, false},
		{nobody, kmsM + "DescribeKey", &kmsv1.DescribeKeyRequest{KeyId: id1}, false},
		{nobody, kmsM + "ListKeys", &kmsv1.ListKeysRequest{}, false},
		{root, kmsM + "Encrypt", &kmsv1.EncryptRequest{KeyId: id2}, true},
		{root, kmsM + "CreateKey", &kmsv1.CreateKeyRequest{}, true},
		{root, auditM + "LookupEvents", &kmsv1.LookupEventsRequest{}, true},
	}
	for i, c := range cases {
		err := s.authorize(withCaller(ctx, c.who), c.method, c.req)
		if (err == nil) != c.allow {
			t.Errorf("case %d: %s %s: allowed = %v (%v), want %v", i, c.who.userName, c.method, err == nil, err, c.allow)
			continue
		}
		if err != nil && ExceptionName(toStatus(ctx, discardLogger, c.method, err)) != excAccessDenied {
			t.Errorf("case %d: %v, want AccessDeniedException", i, err)
		}
	}

	// A key that exists and one that does not are refused alike.
	e1 := s.authorize(withCaller(ctx, nobody), kmsM+"Encrypt", &kmsv1.EncryptRequest{KeyId: id2})
	e2 := s.authorize(withCaller(ctx, nobody), kmsM+"Encrypt", &kmsv1.EncryptRequest{KeyId: missing})
	var a1, a2 *apiError
	if !errors.As(e1, &a1) || !errors.As(e2, &a2) || strings.ReplaceAll(a1.message, id2, "K") != strings.ReplaceAll(a2.message, missing, "K") {
		t.Errorf("refusals differ for an existing and a missing key:\n%v\n%v", e1, e2)
	}
	// An alias is named as given, not as the key it stands for.
	if _, err := s.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/secret-project", TargetKeyId: id2}); err != nil {
		t.Fatal(err)
	}
	err = s.authorize(withCaller(ctx, nobody), kmsM+"Encrypt", &kmsv1.EncryptRequest{KeyId: "alias/secret-project"})
	if err == nil || strings.Contains(err.Error(), id2) {
		t.Errorf("refusal through an alias: %v", err)
	}
}

// TestIAMUserCalls: an IAM user's access key, made through the
// IdentityManagementService, signs calls as that user; the user's policies
// decide; a deactivated or deleted key stops working at once; the records
// name the user.
func TestIAMUserCalls(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	rootConn := a.signed(t, a.root, a.clock.Now)
	admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
	kms := kmsv1.NewKeyManagementServiceClient(rootConn)
	k, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "app"}); err != nil {
		t.Fatal(err)
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "app"})
	if err != nil {
		t.Fatal(err)
	}
	creds := auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}
	app := kmsv1.NewKeyManagementServiceClient(a.signed(t, creds, a.clock.Now))

	// No policy: authenticated, not authorized.
	_, err = app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	wantException(t, err, excAccessDenied)
	if _, err := admin.AttachUserPolicy(ctx, &kmsv1.AttachUserPolicyRequest{UserName: "app", PolicyArn: iam.KeyUser.ARN()}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt with the key user policy: %v", err)
	}
	_, err = app.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	wantException(t, err, excAccessDenied)
	// The user cannot give itself more.
	_, err = kmsv1.NewIdentityManagementServiceClient(a.signed(t, creds, a.clock.Now)).AttachUserPolicy(ctx,
		&kmsv1.AttachUserPolicyRequest{UserName: "app", PolicyArn: iam.KeyAdministrator.ARN()})
	wantException(t, err, excAccessDenied)

	// Deactivated: refused at authentication.
	if _, err := admin.UpdateAccessKey(ctx, &kmsv1.UpdateAccessKeyRequest{UserName: "app", AccessKeyId: creds.AccessKeyID, Status: "Inactive"}); err != nil {
		t.Fatal(err)
	}
	_, err = app.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
	wantException(t, err, excUnauthenticated)

	events, err := kmsv1.NewAuditServiceClient(rootConn).LookupEvents(ctx, &kmsv1.LookupEventsRequest{UserName: "app"})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, e := range events.GetEvents() {
		var rec map[string]any
		json.Unmarshal(e.GetRecord(), &rec)
		uid := rec["userIdentity"].(map[string]any)
		if uid["type"] != "IAMUser" || uid["userName"] != "app" || uid["accessKeyId"] != creds.AccessKeyID {
			t.Errorf("record of %v: userIdentity %v", rec["eventName"], uid)
		}
		code, _ := rec["errorCode"].(string)
		codes = append(codes, fmt.Sprint(rec["eventName"], ":", code))
	}
	if len(codes) < 4 {
		t.Fatalf("the user's calls on record: %v", codes)
	}
	t.Logf("the user's calls on record: %v", codes)
}

// TestUnparsablePolicyRefuses: a stored policy that no longer parses (it
// may have held a Deny) makes the caller's calls fail rather than be
// judged without it.
func TestUnparsablePolicyRefuses(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	k, err := a.srv.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	u := a.user(t, "dave")
	a.applyIAM(t, keystore.OpAttachUserPolicy, keystore.IdentityMutation{UserName: "dave", PolicyARN: iam.KeyUser.ARN()})
	req := &kmsv1.EncryptRequest{KeyId: k.GetKeyMetadata().GetKeyId()}
	if err := a.srv.authorize(withCaller(ctx, u), "/kms.v1.KeyManagementService/Encrypt", req); err != nil {
		t.Fatalf("with the key user policy: %v", err)
	}
	// Written behind the API's validation, as a damaged store would hold it.
	a.applyIAM(t, keystore.OpPutUserPolicy, keystore.IdentityMutation{UserName: "dave", PolicyName: "broken",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"kms:*","Resource":"*","Bogus":1}]}`})
	if err := a.srv.authorize(withCaller(ctx, u), "/kms.v1.KeyManagementService/Encrypt", req); err == nil {
		t.Fatal("a caller whose stored policy does not parse was allowed")
	}
}
