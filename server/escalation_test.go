package server

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var escalationCases = flag.Int("escalation-cases", 500, "S4: generated role/session policy cases")

// TestSessionsCannotEscalate (S4): in generated cases a role gets a random
// policy, a session of it a random session policy (or none), and the
// session tries one operation — a cryptographic one, or one that manages
// credentials or permissions (create a user or an access key, put a user
// or role policy — its own role's included —, create a grant, put a key
// policy, assume another role). The operation must succeed exactly when
// both policies allow it and neither denies it (the session policy only
// narrows), so no session ever does more than its role and its session
// policy both allow (0 escalations, the MinIO GHSA-jjjj class), and none
// does less. Sessions issued before a deny on aws:TokenIssueTime are
// revoked; sessions past their expiry are refused.
func TestSessionsCannotEscalate(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	rootConn := a.signed(t, a.root, a.clock.Now)
	admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
	rootKMS := kmsv1.NewKeyManagementServiceClient(rootConn)
	acct := DefaultAccountID
	var keys, keyARNs []string
	for range 2 {
		k, err := rootKMS.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
		if err != nil {
			t.Fatal(err)
		}
		keys, keyARNs = append(keys, k.GetKeyMetadata().GetKeyId()), append(keyARNs, k.GetKeyMetadata().GetArn())
	}
	blob, err := rootKMS.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[0], Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	caller := userCreds(t, admin, "caller", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}`)
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "victim"}); err != nil {
		t.Fatal(err)
	}
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`
	for _, r := range []string{"worker", "other"} {
		if _, err := admin.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: r, AssumeRolePolicyDocument: trust, MaxSessionDuration: 43200}); err != nil {
			t.Fatal(err)
		}
	}
	roleARN := "arn:aws:iam::" + acct + ":role/worker"
	otherARN := "arn:aws:iam::" + acct + ":role/other"
	const defaultKeyPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`

	// The operations a session tries: the action, the resource it is
	// decided on, and the call.
	type op struct {
		action, resource string
		call             func(kmsv1.KeyManagementServiceClient, kmsv1.IdentityManagementServiceClient, kmsv1.SecurityTokenServiceClient, int) error
	}
	ops := []op{
		{"kms:Encrypt", keyARNs[0], func(k kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[0], Plaintext: []byte("p")})
			return err
		}},
		{"kms:Decrypt", keyARNs[0], func(k kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := k.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob.GetCiphertextBlob()})
			return err
		}},
		{"kms:DescribeKey", keyARNs[1], func(k kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := k.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keys[1]})
			return err
		}},
		{"kms:CreateKey", "*", func(k kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := k.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
			return err
		}},
		{"kms:CreateGrant", keyARNs[1], func(k kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := k.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: keys[1], GranteePrincipal: "arn:aws:iam::" + acct + ":user/victim", Operations: []string{"Decrypt"}})
			return err
		}},
		{"kms:PutKeyPolicy", keyARNs[1], func(k kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := k.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: keys[1], PolicyName: "default", Policy: defaultKeyPolicy})
			return err
		}},
		{"iam:CreateUser", "*", func(_ kmsv1.KeyManagementServiceClient, i kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, n int) error {
			_, err := i.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: fmt.Sprint("made-", n)})
			return err
		}},
		{"iam:CreateAccessKey", "*", func(_ kmsv1.KeyManagementServiceClient, i kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			r, err := i.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "victim"})
			if err == nil { // keep room for the next one
				_, err = admin.DeleteAccessKey(ctx, &kmsv1.DeleteAccessKeyRequest{UserName: "victim", AccessKeyId: r.GetAccessKey().GetAccessKeyId()})
			}
			return err
		}},
		{"iam:PutUserPolicy", "*", func(_ kmsv1.KeyManagementServiceClient, i kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := i.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: "victim", PolicyName: "all",
				PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`})
			return err
		}},
		{"iam:PutRolePolicy", "*", func(_ kmsv1.KeyManagementServiceClient, i kmsv1.IdentityManagementServiceClient, _ kmsv1.SecurityTokenServiceClient, _ int) error {
			// The escalation: widen its own role.
			_, err := i.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "worker", PolicyName: "widened",
				PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`})
			return err
		}},
		{"sts:AssumeRole", otherARN, func(_ kmsv1.KeyManagementServiceClient, _ kmsv1.IdentityManagementServiceClient, s kmsv1.SecurityTokenServiceClient, _ int) error {
			_, err := s.AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: otherARN, RoleSessionName: "chained"})
			return err
		}},
	}
	actions := []string{"kms:Encrypt", "kms:Decrypt", "kms:DescribeKey", "kms:CreateKey", "kms:CreateGrant", "kms:PutKeyPolicy",
		"iam:CreateUser", "iam:CreateAccessKey", "iam:PutUserPolicy", "iam:PutRolePolicy", "sts:AssumeRole",
		"kms:*", "iam:*", "sts:*", "*", "kms:Create*", "iam:Put*", "kms:*crypt"}
	resources := []string{"*", keyARNs[0], keyARNs[1], otherARN, "arn:aws:kms:*:*:key/*"}

	type stmt struct {
		allow            bool
		action, resource string
	}
	// genPolicy makes 1 to 3 statements, each about the operation about
	// to be tried half of the time, so that allowed and refused cases
	// both come up often.
	genPolicy := func(r *rand.Rand, o op) []stmt {
		var out []stmt
		for range 1 + r.IntN(3) {
			s := stmt{allow: r.IntN(4) != 0, action: actions[r.IntN(len(actions))], resource: resources[r.IntN(len(resources))]}
			if r.IntN(2) == 0 {
				s.action = o.action
			}
			if r.IntN(2) == 0 {
				s.resource = []string{o.resource, "*"}[r.IntN(2)]
			}
			out = append(out, s)
		}
		return out
	}
	doc := func(ss []stmt) string {
		var parts []string
		for _, s := range ss {
			eff := "Deny"
			if s.allow {
				eff = "Allow"
			}
			parts = append(parts, fmt.Sprintf(`{"Effect":%q,"Action":%q,"Resource":%q}`, eff, s.action, s.resource))
		}
		return `{"Version":"2012-10-17","Statement":[` + strings.Join(parts, ",") + `]}`
	}
	match := func(pattern, s string) bool { // the generator's patterns: a trailing * or a * inside
		if pattern == "*" {
			return true
		}
		pre, post, wild := strings.Cut(pattern, "*")
		if !wild {
			return strings.EqualFold(pattern, s) // action names ignore case; the resources here are exact
		}
		return len(s) >= len(pre)+len(post) && strings.HasPrefix(strings.ToLower(s), strings.ToLower(pre)) && strings.HasSuffix(strings.ToLower(s), strings.ToLower(post))
	}
	decide := func(ss []stmt, action, resource string) (allow, deny bool) {
		for _, s := range ss {
			if match(s.action, action) && (s.resource == "*" || s.resource == resource || s.resource == "arn:aws:kms:*:*:key/*" && strings.HasPrefix(resource, "arn:aws:kms:")) {
				if s.allow {
					allow = true
				} else {
					deny = true
				}
			}
		}
		return allow, deny
	}

	r := rand.New(rand.NewPCG(7, uint64(*escalationCases)))
	var allowed, refused int
	for n := range *escalationCases {
		o := ops[r.IntN(len(ops))]
		rolePolicy := genPolicy(r, o)
		var sessionPolicy []stmt
		if r.IntN(4) != 0 {
			sessionPolicy = genPolicy(r, o)
		}
		if _, err := admin.DeleteRolePolicy(ctx, &kmsv1.DeleteRolePolicyRequest{RoleName: "worker", PolicyName: "widened"}); err != nil && status.Code(err) != codes.NotFound {
			t.Fatal(err)
		}
		if _, err := admin.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "worker", PolicyName: "p", PolicyDocument: doc(rolePolicy)}); err != nil {
			t.Fatal(err)
		}
		req := &kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: fmt.Sprint("case-", n)}
		if sessionPolicy != nil {
			req.Policy = doc(sessionPolicy)
		}
		sess, err := kmsv1.NewSecurityTokenServiceClient(a.signed(t, caller, a.clock.Now)).AssumeRole(ctx, req)
		if err != nil {
			t.Fatalf("case %d: AssumeRole: %v", n, err)
		}
		c := sess.GetCredentials()
		conn := a.signed(t, auth.Credentials{AccessKeyID: c.GetAccessKeyId(), SecretAccessKey: c.GetSecretAccessKey(), SessionToken: c.GetSessionToken()}, a.clock.Now)
		err = o.call(kmsv1.NewKeyManagementServiceClient(conn), kmsv1.NewIdentityManagementServiceClient(conn), kmsv1.NewSecurityTokenServiceClient(conn), n)
		ra, rd := decide(rolePolicy, o.action, o.resource)
		want := ra && !rd
		if sessionPolicy != nil {
			sa, sd := decide(sessionPolicy, o.action, o.resource)
			want = want && sa && !sd
		}
		switch {
		case err == nil && !want:
			t.Fatalf("case %d: ESCALATION: %s on %s succeeded\nrole policy %s\nsession policy %s", n, o.action, o.resource, doc(rolePolicy), req.Policy)
		case err != nil && want:
			t.Fatalf("case %d: %s on %s refused though both policies allow it: %v\nrole policy %s\nsession policy %s", n, o.action, o.resource, err, doc(rolePolicy), req.Policy)
		case err != nil && status.Code(err) != codes.PermissionDenied:
			t.Fatalf("case %d: %s refused with %v, want AccessDenied", n, o.action, err)
		case err == nil:
			allowed++
		default:
			refused++
		}
		conn.Close()
	}
	t.Logf("%d cases: %d allowed, %d refused, 0 escalations", *escalationCases, allowed, refused)
	if allowed == 0 || refused == 0 {
		t.Fatalf("the generator made one-sided cases (%d allowed, %d refused)", allowed, refused)
	}

	// Revocation: a deny on aws:TokenIssueTime ends the sessions issued
	// before it, not those issued after; expiry ends every session.
	if _, err := admin.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "worker", PolicyName: "p",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	assume := func() kmsv1.KeyManagementServiceClient {
		s, err := kmsv1.NewSecurityTokenServiceClient(a.signed(t, caller, a.clock.Now)).AssumeRole(ctx,
			&kmsv1.AssumeRoleRequest{RoleArn: roleARN, RoleSessionName: "revocable", DurationSeconds: 3600})
		if err != nil {
			t.Fatal(err)
		}
		c := s.GetCredentials()
		return kmsv1.NewKeyManagementServiceClient(a.signed(t, auth.Credentials{AccessKeyID: c.GetAccessKeyId(),
			SecretAccessKey: c.GetSecretAccessKey(), SessionToken: c.GetSessionToken()}, a.clock.Now))
	}
	encrypt := func(k kmsv1.KeyManagementServiceClient) error {
		_, err := k.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[0], Plaintext: []byte("p")})
		return err
	}
	old := assume()
	if err := encrypt(old); err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(time.Minute)
	cutoff := a.clock.Now().UTC().Format(time.RFC3339)
	if _, err := admin.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "worker", PolicyName: "revoke-older-sessions",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"` + cutoff + `"}}}]}`}); err != nil {
		t.Fatal(err)
	}
	if err := encrypt(old); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a session issued before the revocation: %v, want AccessDenied", err)
	}
	a.clock.Advance(time.Second)
	fresh := assume()
	if err := encrypt(fresh); err != nil {
		t.Errorf("a session issued after the revocation: %v", err)
	}
	a.clock.Advance(time.Hour)
	if err := encrypt(fresh); status.Code(err) != codes.Unauthenticated {
		t.Errorf("a session past its expiry: %v, want ExpiredTokenException", err)
	}
}
