package server

import (
	"bytes"
	"context"
	"encoding/base32"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/auth"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestMFA: a virtual MFA device is enabled with two consecutive codes;
// GetSessionToken and AssumeRole with a code of it issue sessions that
// carry aws:MultiFactorAuthPresent, so a policy that requires MFA allows
// them and refuses the user's own access key and sessions without MFA; a
// code is accepted once, a wrong one never; the audit log says
// mfaAuthenticated and holds neither the seed nor a code; a user with a
// device cannot be deleted, and an enabled device cannot be deleted.
func TestMFA(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	rootConn := a.signed(t, a.root, a.clock.Now)
	admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
	acct := DefaultAccountID
	needsMFA := `{"Version":"2012-10-17","Statement":[` +
		`{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"},"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}},` +
		`{"Effect":"Allow","Action":["kms:ListKeys","sts:AssumeRole"],"Resource":"*"}]}`
	alice := userCreds(t, admin, "alice", needsMFA)

	dev, err := admin.CreateVirtualMFADevice(ctx, &kmsv1.CreateVirtualMFADeviceRequest{VirtualMfaDeviceName: "alice-phone"})
	if err != nil {
		t.Fatal(err)
	}
	serial := dev.GetVirtualMfaDevice().GetSerialNumber()
	if serial != "arn:aws:iam::"+acct+":mfa/alice-phone" {
		t.Fatalf("serial number %q", serial)
	}
	seedB32 := dev.GetVirtualMfaDevice().GetBase32StringSeed()
	seed, err := base32.StdEncoding.DecodeString(seedB32)
	if err != nil || len(seed) != iam.TOTPSeedBytes {
		t.Fatalf("seed %q: %v", seedB32, err)
	}
	code := func(offset int) string {
		return iam.TOTPCode(seed, uint64(int64(iam.TOTPStepAt(a.clock.Now()))+int64(offset)), 6)
	}
	enable := func(c1, c2 string) error {
		_, err := admin.EnableMFADevice(ctx, &kmsv1.EnableMFADeviceRequest{UserName: "alice", SerialNumber: serial,
			AuthenticationCode1: c1, AuthenticationCode2: c2})
		return err
	}
	for name, c := range map[string][2]string{
		"same code twice":   {code(0), code(0)},
		"out of order":      {code(0), code(-1)},
		"codes of long ago": {code(-5), code(-4)},
		"another seed's":    {iam.TOTPCode([]byte("another seed 0000000"), iam.TOTPStepAt(a.clock.Now())-1, 6), code(0)},
		"not digits":        {"abcdef", code(0)},
	} {
		if err := enable(c[0], c[1]); exceptionOf(err) != excInvalidAuthenticationCode {
			t.Errorf("EnableMFADevice with %s: %v, want %s", name, err, excInvalidAuthenticationCode)
		}
	}
	if err := enable(code(-1), code(0)); err != nil {
		t.Fatalf("EnableMFADevice with two consecutive codes: %v", err)
	}
	if err := enable(code(-1), code(0)); status.Code(err) != codes.AlreadyExists {
		t.Errorf("enabling the device again: %v, want EntityAlreadyExists", err)
	}
	list, err := admin.ListMFADevices(ctx, &kmsv1.ListMFADevicesRequest{UserName: "alice"})
	if err != nil || len(list.GetMfaDevices()) != 1 || list.GetMfaDevices()[0].GetSerialNumber() != serial {
		t.Fatalf("ListMFADevices: %v %v", list, err)
	}

	kmsAs := func(c auth.Credentials) kmsv1.KeyManagementServiceClient {
		return kmsv1.NewKeyManagementServiceClient(a.signed(t, c, a.clock.Now))
	}
	stsAs := func(c auth.Credentials) kmsv1.SecurityTokenServiceClient {
		return kmsv1.NewSecurityTokenServiceClient(a.signed(t, c, a.clock.Now))
	}
	session := func(r *kmsv1.TemporaryCredentials) auth.Credentials {
		return auth.Credentials{AccessKeyID: r.GetAccessKeyId(), SecretAccessKey: r.GetSecretAccessKey(), SessionToken: r.GetSessionToken()}
	}
	createKey := func(c auth.Credentials) error {
		_, err := kmsAs(c).CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		return err
	}
	if err := createKey(alice); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateKey with alice's access key (no MFA): %v, want AccessDenied", err)
	}
	plain, err := stsAs(alice).GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if err := createKey(session(plain.GetCredentials())); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateKey with a session without MFA: %v, want AccessDenied", err)
	}
	if _, err := kmsAs(session(plain.GetCredentials())).ListKeys(ctx, &kmsv1.ListKeysRequest{}); err != nil {
		t.Errorf("ListKeys with a session without MFA (allowed without condition): %v", err)
	}

	// The code of the step the device was enabled with is used already.
	if _, err := stsAs(alice).GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{SerialNumber: serial, TokenCode: code(0)}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetSessionToken with the code enabling used: %v, want AccessDenied", err)
	}
	a.clock.Advance(iam.TOTPStep)
	good := code(0)
	withMFA, err := stsAs(alice).GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{SerialNumber: serial, TokenCode: good, DurationSeconds: 7200})
	if err != nil {
		t.Fatalf("GetSessionToken with a fresh code: %v", err)
	}
	for name, req := range map[string]*kmsv1.GetSessionTokenRequest{
		"the same code again": {SerialNumber: serial, TokenCode: good},
		"a wrong code":        {SerialNumber: serial, TokenCode: "000000"},
		"another device":      {SerialNumber: "arn:aws:iam::" + acct + ":mfa/other", TokenCode: code(1)},
		"no code":             {SerialNumber: serial},
	} {
		if req.TokenCode == "000000" && good == "000000" {
			continue
		}
		if _, err := stsAs(alice).GetSessionToken(ctx, req); status.Code(err) != codes.PermissionDenied {
			t.Errorf("GetSessionToken with %s: %v, want AccessDenied", name, err)
		}
	}
	mfaSession := session(withMFA.GetCredentials())
	if err := createKey(mfaSession); err != nil {
		t.Errorf("CreateKey with an MFA session: %v", err)
	}
	if _, err := stsAs(mfaSession).GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("GetSessionToken with session credentials: %v, want AccessDenied", err)
	}
	// aws:MultiFactorAuthAge grows: past an hour the policy's age limit
	// refuses.
	a.clock.Advance(14 * time.Minute)
	if err := createKey(mfaSession); err != nil {
		t.Errorf("CreateKey with an MFA session 14 minutes old: %v", err)
	}
	a.clock.Advance(47 * time.Minute)
	if err := createKey(mfaSession); status.Code(err) != codes.PermissionDenied {
		t.Errorf("CreateKey with an MFA session 61 minutes old (policy: under 3600 s): %v, want AccessDenied", err)
	}

	// A role whose trust policy requires MFA.
	if _, err := admin.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "breakglass", MaxSessionDuration: 3600,
		AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct +
			`:user/alice"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`}); err != nil {
		t.Fatal(err)
	}
	roleARN := "arn:aws:iam::" + acct + ":role/breakglass"
	if _, err := stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "s1"}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("AssumeRole of a role requiring MFA, without: %v, want AccessDenied", err)
	}
	a.clock.Advance(iam.TOTPStep)
	c2 := code(0)
	role, err := stsAs(alice).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "s2", SerialNumber: serial, TokenCode: c2})
	if err != nil {
		t.Fatalf("AssumeRole with a code: %v", err)
	}
	who, err := stsAs(session(role.GetCredentials())).GetCallerIdentity(ctx, &kmsv1.GetCallerIdentityRequest{})
	if err != nil || who.GetArn() != "arn:aws:sts::"+acct+":assumed-role/breakglass/s2" {
		t.Errorf("GetCallerIdentity of the role session: %v %v", who, err)
	}

	// Deleting: the user keeps the device; an enabled device stays.
	admin.DeleteUserPolicy(ctx, &kmsv1.DeleteUserPolicyRequest{UserName: "alice", PolicyName: "p"})
	admin.DeleteAccessKey(ctx, &kmsv1.DeleteAccessKeyRequest{UserName: "alice", AccessKeyId: alice.AccessKeyID})
	if _, err := admin.DeleteUser(ctx, &kmsv1.DeleteUserRequest{UserName: "alice"}); exceptionOf(err) != excDeleteConflict {
		t.Errorf("DeleteUser with an MFA device: %v, want %s", err, excDeleteConflict)
	}
	if _, err := admin.DeleteVirtualMFADevice(ctx, &kmsv1.DeleteVirtualMFADeviceRequest{SerialNumber: serial}); exceptionOf(err) != excDeleteConflict {
		t.Errorf("DeleteVirtualMFADevice of an enabled device: %v, want %s", err, excDeleteConflict)
	}
	if _, err := admin.DeactivateMFADevice(ctx, &kmsv1.DeactivateMFADeviceRequest{UserName: "alice", SerialNumber: serial}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteVirtualMFADevice(ctx, &kmsv1.DeleteVirtualMFADeviceRequest{SerialNumber: serial}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DeleteUser(ctx, &kmsv1.DeleteUserRequest{UserName: "alice"}); err != nil {
		t.Errorf("DeleteUser once the device is gone: %v", err)
	}

	// The audit log: MFA sessions say so; no seed, no code.
	var mfaRecords int
	for _, rec := range auditRecordsOf(t, a) {
		if bytes.Contains(rec, []byte(seedB32)) {
			t.Fatal("an audit record holds the MFA seed")
		}
		for _, f := range []string{`"tokenCode"`, `"authenticationCode1"`, `"authenticationCode2"`, `"base32StringSeed"`} {
			if bytes.Contains(rec, []byte(f)) {
				t.Fatalf("an audit record holds %s: %s", f, rec)
			}
		}
		if bytes.Contains(rec, []byte(`"eventName":"CreateKey"`)) && bytes.Contains(rec, []byte(`"mfaAuthenticated":"true"`)) {
			mfaRecords++
		}
	}
	if mfaRecords != 3 { // two allowed, one refused for the age
		t.Errorf("%d CreateKey records with mfaAuthenticated true, want 3", mfaRecords)
	}
}

// exceptionOf is the AWS exception name of a call's error.
func exceptionOf(err error) string { return ExceptionName(err) }

// auditRecordsOf reads a's whole audit log as the root.
func auditRecordsOf(t *testing.T, a *authServer) [][]byte {
	t.Helper()
	c := kmsv1.NewAuditServiceClient(a.signed(t, a.root, a.clock.Now))
	var out [][]byte
	for {
		resp, err := c.GetEvents(context.Background(), &kmsv1.GetEventsRequest{StartIndex: int64(len(out))})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.GetEvents() {
			out = append(out, e.GetRecord())
		}
		if len(resp.GetEvents()) == 0 || int64(len(out)) >= resp.GetTreeSize() {
			return out
		}
	}
}

// TestMFAWrongCodesLockTheDevice: after MaxMFAFailures wrong codes the
// device accepts no code, the right one included, until the lockout ends
// (so six digits cannot be guessed); an accepted code clears the count.
// A role session made from an MFA session keeps that session's MFA time,
// so aws:MultiFactorAuthAge keeps growing through role chaining.
func TestMFAWrongCodesLockTheDevice(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	admin := kmsv1.NewIdentityManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	acct := DefaultAccountID
	alice := userCreds(t, admin, "alice", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	dev, err := admin.CreateVirtualMFADevice(ctx, &kmsv1.CreateVirtualMFADeviceRequest{VirtualMfaDeviceName: "alice-phone"})
	if err != nil {
		t.Fatal(err)
	}
	serial := dev.GetVirtualMfaDevice().GetSerialNumber()
	seed, _ := base32.StdEncoding.DecodeString(dev.GetVirtualMfaDevice().GetBase32StringSeed())
	code := func(offset int) string {
		return iam.TOTPCode(seed, uint64(int64(iam.TOTPStepAt(a.clock.Now()))+int64(offset)), 6)
	}
	if _, err := admin.EnableMFADevice(ctx, &kmsv1.EnableMFADeviceRequest{UserName: "alice", SerialNumber: serial,
		AuthenticationCode1: code(-1), AuthenticationCode2: code(0)}); err != nil {
		t.Fatal(err)
	}
	sts := kmsv1.NewSecurityTokenServiceClient(a.signed(t, alice, a.clock.Now))
	get := func(c string) error {
		_, err := sts.GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{SerialNumber: serial, TokenCode: c})
		return err
	}
	a.clock.Advance(iam.TOTPStep)
	wrong := "000000"
	if code(-1) == wrong || code(0) == wrong || code(1) == wrong {
		wrong = "111111"
	}
	for i := range keystore.MaxMFAFailures {
		if err := get(wrong); status.Code(err) != codes.PermissionDenied {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	if err := get(code(0)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("the right code on a locked device: %v, want AccessDenied", err)
	}
	a.clock.Advance(keystore.MFALockout + time.Second)
	if err := get(code(0)); err != nil {
		t.Fatalf("the right code once the lockout ended: %v", err)
	}
	// One wrong code after a success does not lock.
	a.clock.Advance(iam.TOTPStep)
	if err := get(wrong); status.Code(err) != codes.PermissionDenied {
		t.Fatal(err)
	}
	a.clock.Advance(iam.TOTPStep)
	fresh, err := sts.GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{SerialNumber: serial, TokenCode: code(0), DurationSeconds: 129600})
	if err != nil {
		t.Fatalf("a right code after one wrong one: %v", err)
	}

	// Role chaining keeps the MFA time: a role session made an hour after
	// the MFA code, from the MFA session, is an hour old in MFA terms.
	trust := func(cond string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::` + acct + `:user/alice","arn:aws:iam::` +
			acct + `:role/hop"]},"Action":"sts:AssumeRole"` + cond + `}]}`
	}
	for name, doc := range map[string]string{"fresh-mfa": trust(`,"Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"300"}}`), "hop": trust("")} {
		if _, err := admin.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: name, MaxSessionDuration: 3600, AssumeRolePolicyDocument: doc}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := admin.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "hop", PolicyName: "assume",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	stsOf := func(c *kmsv1.TemporaryCredentials) kmsv1.SecurityTokenServiceClient {
		return kmsv1.NewSecurityTokenServiceClient(a.signed(t, auth.Credentials{AccessKeyID: c.GetAccessKeyId(),
			SecretAccessKey: c.GetSecretAccessKey(), SessionToken: c.GetSessionToken()}, a.clock.Now))
	}
	assume := func(from kmsv1.SecurityTokenServiceClient, role string) (*kmsv1.TemporaryCredentials, error) {
		r, err := from.AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: "arn:aws:iam::" + acct + ":role/" + role, RoleSessionName: "chained"})
		return r.GetCredentials(), err
	}
	mfaSession := stsOf(fresh.GetCredentials())
	if _, err := assume(mfaSession, "fresh-mfa"); err != nil {
		t.Fatalf("AssumeRole from a fresh MFA session: %v", err)
	}
	a.clock.Advance(time.Hour)
	if _, err := assume(mfaSession, "fresh-mfa"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AssumeRole from an MFA session an hour old (trust: age < 300 s): %v, want AccessDenied", err)
	}
	hop, err := assume(mfaSession, "hop")
	if err != nil {
		t.Fatalf("AssumeRole of hop: %v", err)
	}
	if _, err := assume(stsOf(hop), "fresh-mfa"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("AssumeRole through a role session made an hour after the MFA code: %v, want AccessDenied (the chain must not renew the MFA age)", err)
	}
}
