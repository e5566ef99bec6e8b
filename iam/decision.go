package iam

import (
	"strconv"
	"strings"
)

// Reason says why Evaluate decided as it did.
type Reason uint8

const (
	// ReasonDefaultDeny: nothing allowed the request.
	ReasonDefaultDeny Reason = iota
	// ReasonExplicitDeny: a Deny statement applied (Statement names it).
	ReasonExplicitDeny
	// ReasonInvalidRequest: the request is malformed (unknown action,
	// missing or malformed principal or resource); it is denied.
	ReasonInvalidRequest
	// ReasonNoResourcePolicy: the action needs a key policy (or a trust
	// policy) and none was given.
	ReasonNoResourcePolicy
	// ReasonNotEnabled: an identity policy allows (Statement), but the
	// resource policy does not allow the account for the action, so it
	// does not enable IAM policies; denied.
	ReasonNotEnabled
	// ReasonSessionPolicy: an allow (Statement) was cut off because the
	// session policy does not allow the action; denied.
	ReasonSessionPolicy
	// ReasonResourcePolicy: the key or trust policy allows the principal
	// itself (Statement).
	ReasonResourcePolicy
	// ReasonIdentityPolicy: an identity policy allows (Statement); for a
	// key, Via names the key policy statement that enables IAM policies.
	ReasonIdentityPolicy
	// ReasonGrant: a grant allows (GrantID).
	ReasonGrant
	// ReasonRoot: the account root, for an action that has no resource
	// policy: the root holds every identity permission.
	ReasonRoot
	// ReasonAlwaysAllowed: an action everyone may call
	// (sts:GetCallerIdentity).
	ReasonAlwaysAllowed
)

var reasonNames = [...]string{
	"no statement allows", "explicit deny", "invalid request", "no resource policy",
	"key policy does not enable IAM policies", "not allowed by the session policy",
	"resource policy allows", "identity policy allows", "grant allows", "account root",
	"always allowed",
}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "Reason(" + strconv.Itoa(int(r)) + ")"
}

// StatementRef names one statement of one policy: the policy's Name, the
// statement's Sid (may be empty) and its index in the Statement list.
type StatementRef struct {
	Policy string
	Sid    string
	Index  int
}

// IsZero reports whether the reference names nothing.
func (s StatementRef) IsZero() bool { return s == StatementRef{} }

func (s StatementRef) String() string {
	if s.IsZero() {
		return ""
	}
	id := "#" + strconv.Itoa(s.Index)
	if s.Sid != "" {
		id = strconv.Quote(s.Sid)
	}
	return "policy " + strconv.Quote(s.Policy) + " statement " + id
}

// Decision is the outcome of Evaluate, with what decided it for the audit
// record and for debugging.
type Decision struct {
	Effect    Effect
	Reason    Reason
	Statement StatementRef // the deciding statement, if any
	Via       StatementRef // ReasonIdentityPolicy on a key: the enabling key policy statement
	GrantID   string       // ReasonGrant: the grant
}

// Allowed reports whether the request is allowed.
func (d Decision) Allowed() bool { return d.Effect == Allow }

// Explicit reports whether a statement or grant decided: true for every
// allow and for an explicit deny, false for the default deny.
func (d Decision) Explicit() bool { return d.Effect == Allow || d.Reason == ReasonExplicitDeny }

func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(d.Effect.String())
	b.WriteString(": ")
	b.WriteString(d.Reason.String())
	if !d.Statement.IsZero() {
		b.WriteString(" (" + d.Statement.String() + ")")
	}
	if !d.Via.IsZero() {
		b.WriteString(" via " + d.Via.String())
	}
	if d.GrantID != "" {
		b.WriteString(" grant " + strconv.Quote(d.GrantID))
	}
	return b.String()
}
