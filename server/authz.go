package server

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Authorization. After authentication, every call is evaluated by the iam
// package (see its documentation for the rules) before the handler runs:
//
//   - The action is the operation in its service's namespace: kms:Encrypt,
//     kmsd:LookupEvents (the audit log and the cluster), iam:CreateUser.
//     ReEncrypt is two decisions: kms:ReEncryptFrom on the source key and
//     kms:ReEncryptTo on the destination key.
//   - The resource is the key a call names (KeyId, TargetKeyId,
//     DestinationKeyId, or the key a ciphertext was made under), else "*".
//   - The policies are the key's own policy (keypolicy.go; the default
//     key policy, which gives the account root every kms action and so
//     lets identity policies decide, for a key without one), the key's
//     grants whose grantee is the caller (grants.go), and the caller's
//     identity policies: a user's inline and attached policies and those
//     of its groups.
//   - CreateGrant also sets kms:GrantOperations, kms:GranteePrincipal,
//     kms:RetiringPrincipal, kms:GrantConstraintType and, as the
//     encryption context, the new grant's constraint. RetireGrant is
//     decided by its handler, which knows the grant (grants.go).
//   - The conditions see the encryption context of the call
//     (kms:EncryptionContext:KEY, kms:EncryptionContextKeys), the caller's
//     address (aws:SourceIp) and the time.
//
// A refusal is AccessDeniedException and does not say whether the key
// exists: the resource in its message is the key as the caller named it,
// and a key that does not exist is refused like one that does. Refusals
// are recorded in the audit log like any other failure.

const excAccessDenied = "AccessDeniedException"

// identityReader is what authorization reads about IAM users.
type identityReader interface {
	UserPolicies(userName string) ([]keystore.PolicyRef, error)
	RolePolicies(roleName string) ([]keystore.PolicyRef, error)
}

// policyCache keeps parsed policies by their text (and kind and name): a
// lookup hashes the text with the map's hash and compares it whole, which
// costs far less than parsing it, or than a cryptographic hash of it, on
// every call.
type policyCache struct {
	mu sync.RWMutex
	m  map[policyCacheKey]*iam.Policy
}

type policyCacheKey struct {
	kind      iam.Kind
	name, doc string
}

func (c *policyCache) get(doc string, kind iam.Kind) (*iam.Policy, error) {
	return c.named("", doc, kind)
}

// named is get for a policy that carries a name (an identity policy: its
// entity and name, or a managed policy's ARN), which decisions report.
func (c *policyCache) named(name, doc string, kind iam.Kind) (*iam.Policy, error) {
	k := policyCacheKey{kind: kind, name: name, doc: doc}
	c.mu.RLock()
	p, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return p, nil
	}
	p, err := iam.Parse([]byte(doc), kind)
	if err != nil {
		return nil, err
	}
	p.Name = name
	c.mu.Lock()
	if c.m == nil || len(c.m) > 4096 {
		c.m = map[policyCacheKey]*iam.Policy{}
	}
	c.m[k] = p
	c.mu.Unlock()
	return p, nil
}

// authzTarget is one decision a call needs.
type authzTarget struct {
	action   string
	resource string // the ARN evaluated
	named    string // the resource as the caller named it, for messages
	keyID    string // the key's id, if the resource is a key that exists
}

// authorize decides whether the caller in ctx may make the call.
func (s *Server) authorize(ctx context.Context, method string, req any) error {
	who, ok := callerFrom(ctx)
	if !ok {
		return s.accessDenied(caller{}, authzTarget{action: "*", named: "*"}, false)
	}
	if strings.HasPrefix(method, "/kms.v1.SecurityTokenService/") {
		// GetCallerIdentity needs no permission; AssumeRole is decided by
		// its handler, against the role's trust policy.
		return nil
	}
	targets := s.authzTargets(method, req)
	var rc iam.Context
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		if host, _, err := net.SplitHostPort(p.Addr.String()); err == nil {
			rc.Set("aws:SourceIp", host)
		}
	}
	if m, ok := req.(proto.Message); ok {
		if ec := encryptionContextOf(m); ec != nil {
			rc.SetEncryptionContext(ec)
		}
	}
	if g, ok := req.(*kmsv1.CreateGrantRequest); ok {
		setGrantConditions(&rc, g)
	}
	identity, err := s.callerPolicies(who)
	if err != nil {
		return err
	}
	now := s.now()
	setMFAContext(&rc, who, now)
	for _, t := range targets {
		ps := &iam.PolicySet{Identity: identity, Session: who.session}
		if iam.NeedsResourcePolicy(t.action) {
			ps.Resource = s.keyPolicyOf(t.keyID)
			ps.Grants = s.callerGrants(t.keyID, &who.principal)
		}
		d := iam.Evaluate(&iam.Request{Principal: who.principal, Action: t.action, Resource: t.resource, Time: now, Context: rc}, ps)
		if !d.Allowed() {
			return s.accessDenied(who, t, d.Explicit())
		}
	}
	return nil
}

// callerPolicies returns the caller's identity policies (parsed once per
// document).
func (s *Server) callerPolicies(who caller) ([]*iam.Policy, error) {
	var refs []keystore.PolicyRef
	var err error
	switch {
	case s.identities == nil:
		return nil, nil
	case who.userName != "":
		refs, err = s.identities.UserPolicies(who.userName)
	case who.roleName != "":
		refs, err = s.identities.RolePolicies(who.roleName)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, nil // deleted meanwhile: no policies
	}
	return s.identityPolicies(refs)
}

func (s *Server) accessDenied(who caller, t authzTarget, explicit bool) error {
	arn := who.identity.ARN
	if arn == "" {
		arn = "(unknown)"
	}
	why := "no identity-based policy allows the " + t.action + " action"
	if explicit {
		why = "an explicit deny in a policy"
	}
	return &apiError{code: codes.PermissionDenied, name: excAccessDenied,
		message: fmt.Sprintf("User: %s is not authorized to perform: %s on resource: %s because %s",
			truncate(arn, 256), t.action, truncate(t.named, 512), why)}
}

// serviceActions maps a service to its namespace in policies.
var serviceActions = map[string]string{
	"kms.v1.KeyManagementService":      "kms:",
	"kms.v1.AuditService":              "kmsd:",
	"kms.v1.ClusterService":            "kmsd:",
	"kms.v1.IdentityManagementService": "iam:",
}

// authzTargets lists the decisions a call of method with req needs.
func (s *Server) authzTargets(method string, req any) []authzTarget {
	svc, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	prefix, ok := serviceActions[svc]
	if !ok {
		return []authzTarget{{action: "kmsd:" + name, resource: "*", named: "*"}}
	}
	m, _ := req.(proto.Message)
	field := func(n protoreflect.Name) string {
		if m == nil {
			return ""
		}
		r := m.ProtoReflect()
		f := r.Descriptor().Fields().ByName(n)
		if f == nil || f.Kind() != protoreflect.StringKind {
			return ""
		}
		return r.Get(f).String()
	}
	blobKey := func() string {
		if m == nil {
			return ""
		}
		r := m.ProtoReflect()
		f := r.Descriptor().Fields().ByName("ciphertext_blob")
		if f == nil || f.Kind() != protoreflect.BytesKind {
			return ""
		}
		h, err := envelope.ParseHeader(r.Get(f).Bytes())
		if err != nil {
			return ""
		}
		return h.KeyID.String()
	}
	if prefix != "kms:" {
		return []authzTarget{{action: prefix + name, resource: "*", named: "*"}}
	}
	switch name {
	case "ReEncrypt":
		src := field("source_key_id")
		if src == "" {
			src = blobKey()
		}
		return []authzTarget{s.keyTarget("kms:ReEncryptFrom", src), s.keyTarget("kms:ReEncryptTo", field("destination_key_id"))}
	case "Decrypt":
		k := field("key_id")
		if k == "" {
			k = blobKey()
		}
		return []authzTarget{s.keyTarget("kms:Decrypt", k)}
	case "RetireGrant":
		return nil // decided by the handler, which knows the grant
	case "CreateAlias", "UpdateAlias":
		alias := field("alias_name")
		at := authzTarget{action: "kms:" + name, resource: "*", named: alias}
		if aliasNameRE.MatchString(alias) && len(alias) <= maxAliasNameLength {
			// An invalid name is left for the handler to refuse
			// (ValidationException), as AWS checks input first.
			at.resource = s.aliasARN(alias)
		}
		return []authzTarget{at, s.keyTarget("kms:"+name, field("target_key_id"))}
	}
	if k := field("key_id"); k != "" {
		return []authzTarget{s.keyTarget("kms:"+name, k)}
	}
	return []authzTarget{{action: "kms:" + name, resource: "*", named: "*"}}
}

// keyTarget is a decision on the key a parameter names. The key's ARN is
// evaluated if it exists; if not, the ARN the parameter would have, so a
// refusal is the same either way.
func (s *Server) keyTarget(action, param string) authzTarget {
	t := authzTarget{action: action, named: param, resource: "*"}
	if param == "" {
		t.named = "*"
		return t
	}
	if k, err := s.resolveKey(param, allowAlias); err == nil {
		t.resource, t.keyID = s.keyARN(k.ID), k.ID
		return t
	}
	if id, err := envelope.ParseKeyID(strings.TrimPrefix(param, s.arnPrefix+"key/")); err == nil {
		t.resource = s.keyARN(id.String())
	}
	return t
}

// encryptionContextOf returns a request's encryption context, if it has
// one.
func encryptionContextOf(m proto.Message) map[string]string {
	r := m.ProtoReflect()
	f := r.Descriptor().Fields().ByName("encryption_context")
	if f == nil || !f.IsMap() {
		return nil
	}
	mp := r.Get(f).Map()
	if mp.Len() == 0 {
		return nil
	}
	out := make(map[string]string, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		out[k.String()] = v.String()
		return true
	})
	return out
}
