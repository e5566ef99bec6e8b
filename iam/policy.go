package iam

import "strconv"

// Kind is the kind of a policy document, which decides the elements it may
// hold.
type Kind uint8

const (
	// IdentityPolicy is attached to a user, group or role, or passed as a
	// session policy: no Principal; actions of any service.
	IdentityPolicy Kind = iota + 1
	// KeyPolicy is the resource policy of a key: Principal or NotPrincipal
	// required; kms actions only.
	KeyPolicy
	// TrustPolicy is a role's assume-role policy: Principal or
	// NotPrincipal required; sts actions only.
	TrustPolicy
)

func (k Kind) String() string {
	switch k {
	case IdentityPolicy:
		return "identity policy"
	case KeyPolicy:
		return "key policy"
	case TrustPolicy:
		return "trust policy"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// services returns the services whose actions the kind admits (nil: all).
func (k Kind) services() []string {
	switch k {
	case KeyPolicy:
		return []string{"kms"}
	case TrustPolicy:
		return []string{"sts"}
	}
	return nil
}

// Effect is the effect of a statement or a decision. The zero value is
// Deny.
type Effect uint8

const (
	Deny Effect = iota
	Allow
)

func (e Effect) String() string {
	if e == Allow {
		return "Allow"
	}
	return "Deny"
}

// The policy language versions.
const (
	Version2012 = "2012-10-17"
	Version2008 = "2008-10-17"
)

// Policy is a parsed and compiled policy document. It is immutable and safe
// for concurrent use once Name is set; parse it once, when it is written,
// and keep it with the document.
type Policy struct {
	// Name identifies the policy in decisions, e.g. "key-policy",
	// "user/alice/inline/app" or a managed policy's ARN. Parse leaves it
	// empty; set it before first use.
	Name string

	kind       Kind
	version    string
	id         string
	doc        string
	statements []statement
}

// Kind returns the kind the policy was parsed as.
func (p *Policy) Kind() Kind { return p.kind }

// Version returns the policy language version (2008-10-17 when the
// document has none).
func (p *Policy) Version() string { return p.version }

// ID returns the policy's Id element.
func (p *Policy) ID() string { return p.id }

// Document returns the document exactly as it was parsed.
func (p *Policy) Document() string { return p.doc }

// Len returns the number of statements.
func (p *Policy) Len() int { return len(p.statements) }

// statement is one compiled statement.
type statement struct {
	sid          string
	index        int
	effect       Effect
	principals   *principalSet // nil in identity policies
	notPrincipal bool
	actions      []pattern
	notAction    bool
	resources    []pattern // nil: no Resource element (key and trust policies may omit it)
	notResource  bool
	conds        []condition
}

// principalMatch says how the statement's Principal or NotPrincipal names
// the request's principal; identity policy statements name everyone.
func (s *statement) principalMatch(p *Principal) matchKind {
	if s.principals == nil {
		return matchDirect
	}
	m := s.principals.match(p)
	if s.notPrincipal {
		if m == matchNone {
			return matchDirect
		}
		return matchNone
	}
	return m
}

// appliesTo reports whether the statement's action, resource and
// conditions all match r (the principal is checked apart).
func (s *statement) appliesTo(r *Request) bool {
	if anyMatch(s.actions, r.Action, r) == s.notAction {
		return false
	}
	if s.resources != nil && anyMatch(s.resources, r.Resource, r) == s.notResource {
		return false
	}
	for i := range s.conds {
		if !s.conds[i].holds(r) {
			return false
		}
	}
	return true
}

func anyMatch(ps []pattern, s string, r *Request) bool {
	for i := range ps {
		if ps[i].match(s, r) {
			return true
		}
	}
	return false
}

// ref names statement s of policy p for a Decision.
func (p *Policy) ref(s *statement) StatementRef {
	return StatementRef{Policy: p.Name, Sid: s.sid, Index: s.index}
}
