package iam

import "time"

// Request is one request to authorize.
type Request struct {
	Principal Principal
	// Action is "service:Operation", e.g. "kms:GenerateDataKey"; it must
	// be a known action (see Actions). ReEncrypt is two requests:
	// kms:ReEncryptFrom on the source key and kms:ReEncryptTo on the
	// destination key.
	Action string
	// Resource is the ARN acted on: the key ARN for key actions, the role
	// ARN for sts:AssumeRole, an IAM ARN for iam actions, or "*" for
	// actions without a resource (ListKeys, CreateKey, GenerateRandom …).
	Resource string
	// Time is the time of the request, the value of aws:CurrentTime and
	// aws:EpochTime (absent when zero).
	Time time.Time
	// Context holds the other condition keys.
	Context Context
}

// PolicySet is everything that may allow or deny a request. Evaluate
// only reads it.
type PolicySet struct {
	// Resource is the key policy for actions on a key and the role's trust
	// policy for sts:AssumeRole; nil for other actions. The actions that
	// need one (see NeedsResourcePolicy) are denied without it.
	Resource *Policy
	// Identity holds the principal's identity policies: a user's inline
	// and attached policies and those of its groups, or a role's.
	Identity []*Policy
	// Session is the session policy of a role session, if it has one.
	Session *Policy
	// Grants are the grants on the key in Request.Resource.
	Grants []Grant
}

// NeedsResourcePolicy reports whether action is evaluated against a
// resource policy that must be present: every action on a key (the key
// policy) and sts:AssumeRole (the trust policy).
func NeedsResourcePolicy(action string) bool {
	c, ok := CanonicalAction(action)
	return ok && resourceActions[c]
}

// resourceActions are the actions that act on one key, and AssumeRole.
var resourceActions = func() map[string]bool {
	m := map[string]bool{"sts:AssumeRole": true}
	keyless := []string{
		"CreateKey", "ListKeys", "ListAliases", "GenerateRandom", "ListRetirableGrants",
		"ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore",
		"DescribeCustomKeyStores", "DisconnectCustomKeyStore", "UpdateCustomKeyStore",
	}
	for _, n := range services["kms"] {
		if !contains(keyless, n) {
			m["kms:"+n] = true
		}
	}
	return m
}()

// canonicalActions holds the canonical spelling of every action.
var canonicalActions = func() map[string]bool {
	m := make(map[string]bool, len(actions))
	for _, c := range actions {
		m[c] = true
	}
	return m
}()

// Authorize is Evaluate returning ErrDenied unless the request is
// allowed.
func Authorize(r *Request, ps *PolicySet) (Decision, error) {
	d := Evaluate(r, ps)
	if !d.Allowed() {
		return d, ErrDenied
	}
	return d, nil
}

// Evaluate decides request r against the policies and grants in ps. It is
// a pure function of its arguments. The rules are in the package
// documentation under "Evaluation".
func Evaluate(r *Request, ps *PolicySet) Decision {
	if !validRequest(r) {
		return Decision{Reason: ReasonInvalidRequest}
	}
	if r.Action == "sts:GetCallerIdentity" || equalFoldASCII(r.Action, "sts:GetCallerIdentity") {
		return Decision{Effect: Allow, Reason: ReasonAlwaysAllowed}
	}
	if d, denied := explicitDeny(r, ps); denied {
		return d
	}
	if ps.Resource == nil && NeedsResourcePolicy(r.Action) {
		return Decision{Reason: ReasonNoResourcePolicy}
	}
	e := evaluation{r: r, ps: ps}
	return e.allow()
}

// validRequest refuses requests no policy could be meant to match: an
// unknown action, a principal without type, account or ARN, a resource
// that is neither "*" nor a canonical ARN.
func validRequest(r *Request) bool {
	if !canonicalActions[r.Action] {
		if _, ok := actions[toLowerASCII(r.Action)]; !ok {
			return false
		}
	}
	p := &r.Principal
	switch {
	case p.Type < PrincipalRoot || p.Type > PrincipalService || p.ARN == "":
		return false
	case p.Type != PrincipalService && !isAccountID(p.Account):
		return false
	case p.Type == PrincipalRoleSession && p.RoleARN == "":
		return false
	}
	return r.Resource == "*" || looksLikeARN(r.Resource) && validResourceName(r.Resource)
}

// explicitDeny finds the first Deny statement that applies, in the order
// resource policy, session policy, identity policies.
func explicitDeny(r *Request, ps *PolicySet) (Decision, bool) {
	check := func(p *Policy) (Decision, bool) {
		if p == nil {
			return Decision{}, false
		}
		for i := range p.statements {
			s := &p.statements[i]
			if s.effect == Deny && s.principalMatch(&r.Principal) != matchNone && s.appliesTo(r) {
				return Decision{Reason: ReasonExplicitDeny, Statement: p.ref(s)}, true
			}
		}
		return Decision{}, false
	}
	if d, ok := check(ps.Resource); ok {
		return d, ok
	}
	if d, ok := check(ps.Session); ok {
		return d, ok
	}
	for _, p := range ps.Identity {
		if d, ok := check(p); ok {
			return d, ok
		}
	}
	return Decision{}, false
}

// evaluation is the state of the allow phase of one Evaluate call.
type evaluation struct {
	r         *Request
	ps        *PolicySet
	sessionOK int8 // 0 unknown, 1 allowed, -1 not allowed
	blocked   Decision
}

// limited reports whether the session policy cuts off an allow.
func (e *evaluation) limited() bool {
	if e.ps.Session == nil {
		return false
	}
	if e.sessionOK == 0 {
		e.sessionOK = -1
		if _, ok := firstAllow(e.ps.Session, e.r); ok {
			e.sessionOK = 1
		}
	}
	return e.sessionOK < 0
}

// grantOrBlock returns d as the decision unless the session policy cuts
// it off, in which case it is remembered as the reason for the denial.
func (e *evaluation) grantOrBlock(d Decision, exempt bool) (Decision, bool) {
	if exempt || !e.limited() {
		d.Effect = Allow
		return d, true
	}
	if e.blocked.Reason == ReasonDefaultDeny {
		e.blocked = Decision{Reason: ReasonSessionPolicy, Statement: d.Statement, GrantID: d.GrantID}
	}
	return Decision{}, false
}

func (e *evaluation) allow() Decision {
	r, ps := e.r, e.ps
	// gate is the resource policy's statement that names the account,
	// if any (gated: one was found; the first statement of an unnamed
	// policy without a Sid is the zero StatementRef).
	var gate StatementRef
	gated := false
	if p := ps.Resource; p != nil {
		for i := range p.statements {
			s := &p.statements[i]
			if s.effect != Allow {
				continue
			}
			m := s.principalMatch(&r.Principal)
			if m == matchNone || !s.appliesTo(r) {
				continue
			}
			if m == matchAccount {
				if !gated {
					gate, gated = p.ref(s), true
				}
				continue
			}
			if d, ok := e.grantOrBlock(Decision{Reason: ReasonResourcePolicy, Statement: p.ref(s)}, m == matchSession); ok {
				return d
			}
		}
	}
	for i := range ps.Grants {
		g := &ps.Grants[i]
		if m := g.allows(r); m != matchNone {
			if d, ok := e.grantOrBlock(Decision{Reason: ReasonGrant, GrantID: g.ID}, m == matchSession); ok {
				return d
			}
		}
	}
	if d, ok := e.identityAllow(gate, gated); ok {
		return d
	}
	return e.blocked
}

// identityAllow applies the identity layer: the root holds every identity
// permission; others need an Allow in an identity policy, which counts for
// a resource with a policy only when that policy names the account.
func (e *evaluation) identityAllow(gate StatementRef, gated bool) (Decision, bool) {
	r, ps := e.r, e.ps
	var d Decision
	switch {
	case r.Principal.Type == PrincipalRoot:
		if ps.Resource != nil {
			return Decision{}, false // the root is named directly or not at all
		}
		d = Decision{Reason: ReasonRoot}
	default:
		found := false
		for _, p := range ps.Identity {
			if ref, ok := firstAllow(p, r); ok {
				d, found = Decision{Reason: ReasonIdentityPolicy, Statement: ref}, true
				break
			}
		}
		if !found {
			return Decision{}, false
		}
	}
	if ps.Resource != nil && !gated {
		if e.blocked.Reason == ReasonDefaultDeny {
			e.blocked = Decision{Reason: ReasonNotEnabled, Statement: d.Statement}
		}
		return Decision{}, false
	}
	d.Via = gate
	return e.grantOrBlock(d, false)
}

// firstAllow finds the first Allow statement of p that applies to r.
func firstAllow(p *Policy, r *Request) (StatementRef, bool) {
	if p == nil {
		return StatementRef{}, false
	}
	for i := range p.statements {
		s := &p.statements[i]
		if s.effect == Allow && s.principalMatch(&r.Principal) != matchNone && s.appliesTo(r) {
			return p.ref(s), true
		}
	}
	return StatementRef{}, false
}
