package server

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
)

// Authentication. With Config.Authenticate, every call to kmsd's own
// services (kms.v1.*) must be signed with an access key (see the iam and
// auth packages); only the gRPC health service and the members' internal
// forwarding service (authenticated with its own key) answer unsigned
// calls. A call that is not signed, or whose signature, access key or time
// does not check out, fails with UnauthenticatedException before anything
// else happens, and is recorded in the audit log with the access key id it
// claimed. The message does not say whether the access key exists, and an
// unknown access key costs the same work as a known one.
//
// The account root's access key is derived from the root key
// (RootAccessKey): whoever holds the root key file can already use every
// key, so it grants nothing more. "kmsd root-credentials" prints it, and
// --dev writes it to <data-dir>/dev-credentials.

// RootAccessKey returns the account root's access key id and secret.
func RootAccessKey(root envelope.Key) (id, secret string) {
	idb, err := hkdf.Key(sha256.New, root.Bytes(), nil, "kmsd root access key id v1", 10)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce
	}
	sb, err := hkdf.Key(sha256.New, root.Bytes(), nil, "kmsd root secret access key v1", 30)
	if err != nil {
		panic(err)
	}
	return "AKIA" + base32.StdEncoding.EncodeToString(idb), base64.StdEncoding.EncodeToString(sb)
}

// caller is who made a call.
type caller struct {
	identity  audit.UserIdentity
	principal iam.Principal
	// userName is the IAM user's name; roleName the role of a session,
	// and session its session policy (nil: none). Empty for the root.
	userName string
	roleName string
	session  *iam.Policy
	// temporary marks session credentials, issued at issued; mfa, a
	// session that goes back to an MFA code checked at mfaTime (a session
	// made from an MFA session keeps its mfaTime).
	temporary bool
	mfa       bool
	issued    time.Time
	mfaTime   time.Time
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) (caller, bool) {
	c, ok := ctx.Value(callerKey{}).(caller)
	return c, ok
}

// authenticator checks signed calls.
type authenticator struct {
	account    string
	rootID     string
	rootSecret string
	root       iam.Principal
	now        func() time.Time
	// users finds IAM users' access keys (nil: the root's only), and
	// secret unwraps one.
	users  IdentityStore
	secret func(keystore.AccessKey) (string, error)
	// decoy is unwrapped for an unknown access key, so that it costs
	// what a known one does.
	decoy     keystore.AccessKey
	decoyUser keystore.UserRef
	// sessions checks temporary credentials (sts.go).
	sessions func(iam.SignedRequest) (caller, string, bool, bool)
}

func newAuthenticator(rootKey envelope.Key, account string, now func() time.Time) (*authenticator, error) {
	id, secret := RootAccessKey(rootKey)
	p, err := iam.RootPrincipal(account)
	if err != nil {
		return nil, err
	}
	return &authenticator{account: account, rootID: id, rootSecret: secret, root: p, now: now}, nil
}

// excUnauthenticated is the exception of every authentication failure.
const excUnauthenticated = "UnauthenticatedException"

var (
	errUnauthenticated = &apiError{code: codes.Unauthenticated, name: excUnauthenticated,
		message: "The request is not signed with a valid access key. Sign it with an access key id and secret (KMS_ACCESS_KEY_ID, KMS_SECRET_ACCESS_KEY)."}
	errSignatureExpired = &apiError{code: codes.Unauthenticated, name: excUnauthenticated,
		message: "Signature expired: the request's time is more than 5 minutes from the server's clock."}
	errUnsigned = &apiError{code: codes.Unauthenticated, name: excUnauthenticated,
		message: "The request is not signed. Sign it with an access key id and secret (KMS_ACCESS_KEY_ID, KMS_SECRET_ACCESS_KEY)."}
)

// needsAuthentication reports whether calls of method must be signed.
func needsAuthentication(method string) bool {
	return strings.HasPrefix(method, "/kms.v1.")
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// authenticate checks the signature of a call of method with message req
// (nil for a stream). It returns the caller, or, with an error, what the
// call claimed to be (for the audit record).
func (a *authenticator) authenticate(ctx context.Context, method string, req any) (caller, error) {
	first := func(k string) string { // one key, without copying all the metadata
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	r, err := iam.ParseAuthorization(first(iam.HeaderAuthorization), first(iam.HeaderDate), first(iam.HeaderSecurityToken))
	if errors.Is(err, iam.ErrMissingAuthentication) {
		if who, ok := a.certificateCaller(ctx); ok {
			return who, nil
		}
		return caller{}, errUnsigned
	}
	if err != nil {
		return caller{}, errUnauthenticated
	}
	claimed := caller{identity: audit.UserIdentity{Type: "Unknown", AccessKeyID: truncate(r.AccessKeyID, 128)}}
	var body []byte
	if m, ok := req.(proto.Message); ok {
		if body, err = deterministic.Marshal(m); err != nil {
			return claimed, errUnauthenticated
		}
	}
	var who caller
	var secret string
	var known, expired bool
	if r.Token != "" && a.sessions != nil {
		who, secret, known, expired = a.sessions(r)
	} else {
		who, secret, known = a.lookup(r)
	}
	if !known {
		// The same work for an unknown key: nothing to learn from time.
		secret = "unknown access key, checked all the same"
	}
	// The signing key is derived for every call, known key or not.
	err = iam.VerifyRequest(r, iam.DeriveSigningKey(secret, r.Day), method, body, a.now())
	switch {
	case errors.Is(err, iam.ErrRequestExpired):
		return claimed, errSignatureExpired
	case err != nil || !known:
		return claimed, errUnauthenticated
	case expired:
		return claimed, errExpiredToken
	}
	return who, nil
}

// lookup finds the principal and secret of a request's access key.
// Temporary credentials (a session token) are not issued yet, so a request
// with one is refused.
//
// Every access key, the root's, an IAM user's, or one that does not
// exist, costs the same steps in the same order — a lookup, an unwrap (of
// the decoy if there is no key to unwrap), a user lookup and a principal —
// so the time of a refusal does not tell which access key ids exist
// (TestAuthenticationFailuresTakeTheSameTime).
func (a *authenticator) lookup(r iam.SignedRequest) (caller, string, bool) {
	if r.Token != "" {
		return caller{}, "", false
	}
	isRoot := subtle.ConstantTimeCompare([]byte(r.AccessKeyID), []byte(a.rootID)) == 1
	if a.users == nil {
		if isRoot {
			return a.rootCaller(r.AccessKeyID), a.rootSecret, true
		}
		return caller{}, "", false
	}
	k, found := a.users.AccessKey(r.AccessKeyID)
	found = found && k.Status == keystore.AccessKeyActive && !isRoot
	if !found {
		k = a.decoy
		k.WrappedSecret = bytes.Clone(k.WrappedSecret) // as AccessKey copies it
	}
	secret, err := a.secret(k)
	u, userFound := a.users.UserRef(k.UserName)
	if !userFound {
		u = a.decoyUser
	}
	p, perr := iam.UserPrincipal(u.Arn, u.UserID)
	who := caller{principal: p, userName: u.UserName, identity: audit.UserIdentity{Type: "IAMUser", PrincipalID: u.UserID,
		ARN: u.Arn, AccountID: a.account, AccessKeyID: r.AccessKeyID, UserName: u.UserName}}
	switch {
	case isRoot:
		return a.rootCaller(r.AccessKeyID), a.rootSecret, true
	case found && err == nil && userFound && perr == nil:
		return who, secret, true
	}
	return caller{}, "", false
}

func (a *authenticator) rootCaller(accessKeyID string) caller {
	return caller{principal: a.root, identity: audit.UserIdentity{Type: "Root", PrincipalID: a.account,
		ARN: a.root.ARN, AccountID: a.account, AccessKeyID: accessKeyID}}
}
