package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Temporary credentials (SecurityTokenService). AssumeRole issues an
// access key ("ASIA…"), its secret and a session token that carries what
// is needed to check them later — the key and secret, the role, the
// session's name, its expiry and its session policy — sealed with AES-GCM
// under the root key (the associated data names its purpose). Nothing is
// stored: any member checks a session by opening its token. A session ends
// at its expiry (ExpiredTokenException), or as soon as its role is
// deleted (a role made again with the same name has another id, which
// the token does not match).
//
// GetSessionToken issues the same kind of credentials for the calling IAM
// user itself (they end when the user is deleted). Both take an MFA
// device's serial number and a code from it (iammfa.go); the session then
// carries aws:MultiFactorAuthPresent = true and aws:MultiFactorAuthAge in
// every call's policy evaluation, and the audit record says
// mfaAuthenticated. Sessions without MFA carry
// aws:MultiFactorAuthPresent = false; long-term access keys carry neither
// key, as in AWS.

const (
	excExpiredToken = "ExpiredTokenException"
	excPackedPolicy = "PackedPolicyTooLarge"
	// maxSessionPolicy is AWS's limit on a session policy's length.
	maxSessionPolicy = 2048
)

var sessionTokenAAD = []byte("kmsd/v1/sts-session-token")

// sessionClaims is what a session token carries.
type sessionClaims struct {
	AccessKeyID string `json:"a"`
	Secret      string `json:"s"`
	RoleName    string `json:"r"`
	RoleID      string `json:"i"`
	Session     string `json:"n"`
	Issued      int64  `json:"t"`
	Expires     int64  `json:"e"`
	Policy      string `json:"p,omitempty"`
	// UserName and UserID name the IAM user of a GetSessionToken
	// session (RoleName is empty then).
	UserName string `json:"u,omitempty"`
	UserID   string `json:"ui,omitempty"`
	// MFA reports that the session goes back to an MFA code, checked at
	// MFATime (Unix seconds): when it was issued, or, for a role session
	// made from an MFA session, when that one's code was checked.
	MFA     bool  `json:"m,omitempty"`
	MFATime int64 `json:"mt,omitempty"`
}

// Session durations of GetSessionToken, as AWS STS.
const (
	minUserSessionSeconds     = 900
	maxUserSessionSeconds     = 129600
	defaultUserSessionSeconds = 43200
)

var (
	errExpiredToken = &apiError{code: codes.Unauthenticated, name: excExpiredToken,
		message: "The security token included in the request is expired."}
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
)

func (s *Server) sealSession(c sessionClaims) (string, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	sealed, err := envelope.WrapBytes(s.rand, s.rootKey, b, sessionTokenAAD)
	clear(b)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

func (s *Server) openSession(token string) (sessionClaims, bool) {
	sealed, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return sessionClaims{}, false
	}
	b, err := envelope.UnwrapBytes(s.rootKey, sealed, sessionTokenAAD)
	if err != nil {
		return sessionClaims{}, false
	}
	defer clear(b)
	var c sessionClaims
	if json.Unmarshal(b, &c) != nil {
		return sessionClaims{}, false
	}
	return c, true
}

// session finds the caller of a request signed with temporary credentials;
// expired reports a session that was valid but has ended (known only once
// the signature checks out).
func (s *Server) session(r iam.SignedRequest) (who caller, secret string, known, expired bool) {
	c, ok := s.openSession(r.Token)
	if !ok || c.AccessKeyID != r.AccessKeyID {
		return caller{}, "", false, false
	}
	ids, ok := s.identityStore()
	if !ok {
		return caller{}, "", false, false
	}
	expired = !s.now().Before(time.Unix(c.Expires, 0))
	attrs := &audit.SessionAttributes{CreationDate: audit.Time{Time: time.Unix(c.Issued, 0).UTC()}, MFAAuthenticated: strconv.FormatBool(c.MFA)}
	if c.UserName != "" {
		u, ok := ids.UserRef(c.UserName)
		if !ok || u.UserID != c.UserID {
			return caller{}, "", false, false // the user is gone: so is the session
		}
		p, err := iam.UserPrincipal(u.Arn, u.UserID)
		if err != nil {
			return caller{}, "", false, false
		}
		who = caller{principal: p, userName: u.UserName, temporary: true, mfa: c.MFA, issued: time.Unix(c.Issued, 0), mfaTime: time.Unix(c.MFATime, 0),
			identity: audit.UserIdentity{Type: "IAMUser", PrincipalID: u.UserID, ARN: u.Arn, AccountID: s.accountID,
				AccessKeyID: r.AccessKeyID, UserName: u.UserName, SessionContext: &audit.SessionContext{Attributes: attrs}}}
		return who, c.Secret, true, expired
	}
	role, ok := ids.Role(c.RoleName)
	if !ok || role.RoleID != c.RoleID {
		return caller{}, "", false, false // the role is gone: so is the session
	}
	p, err := iam.RoleSessionPrincipal(role.Arn, role.RoleID, c.Session)
	if err != nil {
		return caller{}, "", false, false
	}
	who = caller{principal: p, roleName: role.RoleName, temporary: true, mfa: c.MFA, issued: time.Unix(c.Issued, 0), mfaTime: time.Unix(c.MFATime, 0),
		identity: audit.UserIdentity{Type: "AssumedRole",
			PrincipalID: role.RoleID + ":" + c.Session, ARN: p.ARN, AccountID: s.accountID, AccessKeyID: r.AccessKeyID,
			SessionContext: &audit.SessionContext{SessionIssuer: audit.SessionIssuer{Type: "Role", PrincipalID: role.RoleID,
				ARN: role.Arn, AccountID: s.accountID, UserName: role.RoleName}, Attributes: attrs}}}
	if c.Policy != "" {
		if who.session, err = s.policies.get(c.Policy, iam.IdentityPolicy); err != nil {
			return caller{}, "", false, false
		}
	}
	return who, c.Secret, true, expired
}

// stsService implements kms.v1.SecurityTokenService.
type stsService struct {
	kmsv1.UnimplementedSecurityTokenServiceServer
	s *Server
}

func (t *stsService) GetCallerIdentity(ctx context.Context, _ *kmsv1.GetCallerIdentityRequest) (*kmsv1.GetCallerIdentityResponse, error) {
	who, ok := callerFrom(ctx)
	if !ok {
		who = caller{identity: t.s.callerIdentity()}
	}
	return &kmsv1.GetCallerIdentityResponse{UserId: who.identity.PrincipalID, Account: t.s.accountID, Arn: who.identity.ARN}, nil
}

func (t *stsService) AssumeRole(ctx context.Context, req *kmsv1.AssumeRoleRequest) (*kmsv1.AssumeRoleResponse, error) {
	s := t.s
	ids, ok := s.identityStore()
	if !ok {
		return nil, unsupported("This server keeps no roles.")
	}
	who, ok := callerFrom(ctx)
	if !ok {
		return nil, &apiError{code: codes.Unauthenticated, name: excUnauthenticated, message: "AssumeRole needs a signed request."}
	}
	arnPrefix := "arn:aws:iam::" + s.accountID + ":role/"
	name := req.GetRoleArn()[strings.LastIndexByte(req.GetRoleArn(), '/')+1:]
	switch {
	case !strings.HasPrefix(req.GetRoleArn(), arnPrefix) || name == "" || len(req.GetRoleArn()) > 2048:
		return nil, validationError("RoleArn must be a role's ARN, arn:aws:iam::%s:role/NAME.", s.accountID)
	case !sessionNameRE.MatchString(req.GetRoleSessionName()):
		return nil, validationError("RoleSessionName must be 2 to 64 characters: letters, digits and +=,.@-_.")
	case len(req.GetPolicy()) > maxSessionPolicy:
		return nil, &apiError{code: codes.InvalidArgument, name: excPackedPolicy,
			message: "The session policy is longer than 2048 characters."}
	}
	if req.GetPolicy() != "" {
		// Parsed, not cached: the cache is shared, and nothing is decided
		// yet about this caller. Sessions that are issued cache theirs.
		if _, err := iam.Parse([]byte(req.GetPolicy()), iam.IdentityPolicy); err != nil {
			return nil, &apiError{code: codes.InvalidArgument, name: excMalformedPolicy, message: "The session policy is malformed: " + err.Error()}
		}
	}
	// A role that does not exist is refused like one that may not be
	// assumed.
	denied := s.accessDenied(who, authzTarget{action: "sts:AssumeRole", named: req.GetRoleArn()}, false)
	role, ok := ids.Role(name)
	if !ok || role.Arn != req.GetRoleArn() {
		return nil, denied
	}
	trust, err := s.policies.get(role.AssumeRolePolicyDocument, iam.TrustPolicy)
	if err != nil {
		return nil, denied
	}
	identity, err := s.callerPolicies(who)
	if err != nil {
		return nil, err
	}
	// The new session goes back to the caller's MFA, if any, and keeps its
	// time: chaining roles does not make an old MFA code young again.
	mfa, mfaTime := who.mfa, who.mfaTime
	if req.GetSerialNumber() != "" || req.GetTokenCode() != "" {
		if err := s.checkMFA(ctx, who.userName, req.GetSerialNumber(), req.GetTokenCode()); err != nil {
			return nil, err
		}
		mfa, mfaTime = true, s.now()
	}
	rq := &iam.Request{Principal: who.principal, Action: "sts:AssumeRole", Resource: role.Arn, Time: s.now()}
	issued := s.now()
	if who.temporary {
		issued = who.issued
	}
	setMFAContext(&rq.Context, caller{temporary: who.temporary || mfa, mfa: mfa, issued: issued, mfaTime: mfaTime}, s.now())
	d := iam.Evaluate(rq, &iam.PolicySet{Resource: trust, Identity: identity, Session: who.session})
	if !d.Allowed() {
		return nil, denied
	}
	dur := time.Duration(req.GetDurationSeconds()) * time.Second
	if dur == 0 {
		dur = time.Hour
	}
	maxDur := time.Duration(role.MaxSessionDuration) * time.Second
	if maxDur == 0 {
		maxDur = time.Hour
	}
	if dur < 15*time.Minute || dur > maxDur {
		return nil, validationError("DurationSeconds must be between 900 and the role's MaxSessionDuration, %d.", int(maxDur/time.Second))
	}
	creds, err := s.issueSession(sessionClaims{RoleName: role.RoleName, RoleID: role.RoleID,
		Session: req.GetRoleSessionName(), Policy: req.GetPolicy(), MFA: mfa, MFATime: unixOrZero(mfa, mfaTime)}, dur)
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.AssumeRoleResponse{
		Credentials: creds,
		AssumedRoleUser: &kmsv1.AssumedRoleUser{AssumedRoleId: role.RoleID + ":" + req.GetRoleSessionName(),
			Arn: "arn:aws:sts::" + s.accountID + ":assumed-role/" + role.RoleName + "/" + req.GetRoleSessionName()},
	}
	if req.GetPolicy() != "" {
		resp.PackedPolicySize = int32(len(req.GetPolicy()) * 100 / maxSessionPolicy)
	}
	return resp, nil
}

// GetSessionToken issues temporary credentials of the calling IAM user.
func (t *stsService) GetSessionToken(ctx context.Context, req *kmsv1.GetSessionTokenRequest) (*kmsv1.GetSessionTokenResponse, error) {
	s := t.s
	who, ok := callerFrom(ctx)
	if !ok {
		return nil, &apiError{code: codes.Unauthenticated, name: excUnauthenticated, message: "GetSessionToken needs a signed request."}
	}
	if who.userName == "" || who.temporary {
		return nil, &apiError{code: codes.PermissionDenied, name: excAccessDenied,
			message: "Cannot call GetSessionToken with session credentials or as the account root: call it with an IAM user's access key."}
	}
	secs := req.GetDurationSeconds()
	if secs == 0 {
		secs = defaultUserSessionSeconds
	}
	if secs < minUserSessionSeconds || secs > maxUserSessionSeconds {
		return nil, validationError("DurationSeconds must be between %d and %d.", minUserSessionSeconds, maxUserSessionSeconds)
	}
	mfa := false
	if req.GetSerialNumber() != "" || req.GetTokenCode() != "" {
		if err := s.checkMFA(ctx, who.userName, req.GetSerialNumber(), req.GetTokenCode()); err != nil {
			return nil, err
		}
		mfa = true
	}
	ids, ok := s.identityStore()
	if !ok {
		return nil, unsupported("This server keeps no users.")
	}
	u, ok := ids.UserRef(who.userName)
	if !ok {
		return nil, errUnauthenticated
	}
	creds, err := s.issueSession(sessionClaims{UserName: u.UserName, UserID: u.UserID, MFA: mfa, MFATime: unixOrZero(mfa, s.now())},
		time.Duration(secs)*time.Second)
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetSessionTokenResponse{Credentials: creds}, nil
}

// issueSession makes temporary credentials for c (who the session acts
// as), valid for dur from now: a new "ASIA…" access key id, its secret,
// and the session token sealing them with c.
func (s *Server) issueSession(c sessionClaims, dur time.Duration) (*kmsv1.TemporaryCredentials, error) {
	id, err := newUniqueID(s.rand, "ASIA", 20)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, secretAccessKeyBytes)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return nil, err
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	clear(raw)
	now := s.now()
	exp := now.Add(dur).Truncate(time.Second)
	c.AccessKeyID, c.Secret, c.Issued, c.Expires = id, secret, now.Unix(), exp.Unix()
	token, err := s.sealSession(c)
	if err != nil {
		return nil, err
	}
	return &kmsv1.TemporaryCredentials{AccessKeyId: id, SecretAccessKey: secret, SessionToken: token, Expiration: timestamppb.New(exp)}, nil
}

// setMFAContext sets the condition keys of temporary credentials: MFA,
// and aws:TokenIssueTime, when the session was issued. Long-term
// credentials carry none of them, as in AWS.
//
// A role's or user's sessions issued before a moment are revoked, as in
// AWS, with a policy denying everything to tokens issued earlier:
// {"Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-01-02T03:04:05Z"}}}.
func setMFAContext(rc *iam.Context, who caller, now time.Time) {
	if !who.temporary {
		return
	}
	rc.Set("aws:TokenIssueTime", who.issued.UTC().Format(time.RFC3339))
	rc.Set("aws:MultiFactorAuthPresent", strconv.FormatBool(who.mfa))
	if who.mfa {
		rc.Set("aws:MultiFactorAuthAge", strconv.FormatInt(int64(now.Sub(who.mfaTime)/time.Second), 10))
	}
}

func unixOrZero(ok bool, t time.Time) int64 {
	if !ok {
		return 0
	}
	return t.Unix()
}
