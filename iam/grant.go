package iam

import (
	"fmt"
	"maps"
	"strings"
)

// Grant is a grant on a key: it lets GranteePrincipal call Operations on
// the key, subject to at most one encryption context constraint.
type Grant struct {
	ID string
	// KeyARN, when set, must equal the request's Resource; a grant for
	// another key never applies.
	KeyARN string
	// GranteePrincipal is a root, user, role or assumed-role session ARN,
	// or a service principal. A role ARN covers every session of the
	// role; a root ARN covers only the account root.
	GranteePrincipal string
	// Operations are KMS operation names without the "kms:" prefix,
	// e.g. "Decrypt".
	Operations []string
	// EncryptionContextEquals, when not nil, allows the cryptographic
	// operations only when the request's encryption context equals it.
	EncryptionContextEquals map[string]string
	// EncryptionContextSubset, when not nil, allows the cryptographic
	// operations only when the request's encryption context holds all of
	// its pairs.
	EncryptionContextSubset map[string]string
}

// GrantOperations are the operations a grant may allow, as AWS KMS names
// them.
var GrantOperations = []string{
	"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
	"ReEncryptFrom", "ReEncryptTo", "CreateGrant", "RetireGrant", "DescribeKey",
	"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "Sign", "Verify",
	"GetPublicKey", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
}

// contextOperations take an encryption context: grant constraints apply
// to them (and, as a bound on new grants, to CreateGrant).
var contextOperations = []string{
	"Decrypt", "Encrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
	"ReEncryptFrom", "ReEncryptTo", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext",
}

// Validate checks a grant as CreateGrant must: a valid grantee, known
// operations, at most one constraint of at most 8 pairs, and constraints
// only on grants whose operations take an encryption context (DescribeKey,
// RetireGrant and CreateGrant may be included; the constraint does not
// apply to the first two).
func (g *Grant) Validate() error {
	if _, err := grantee(g.GranteePrincipal); err != nil {
		return fmt.Errorf("%w: grantee: %v", ErrInvalidGrant, err)
	}
	if len(g.Operations) == 0 {
		return fmt.Errorf("%w: no operations", ErrInvalidGrant)
	}
	for _, op := range g.Operations {
		if !contains(GrantOperations, op) {
			return fmt.Errorf("%w: unknown operation %q", ErrInvalidGrant, op)
		}
	}
	eq, sub := g.EncryptionContextEquals, g.EncryptionContextSubset
	if eq != nil && sub != nil {
		return fmt.Errorf("%w: both EncryptionContextEquals and EncryptionContextSubset", ErrInvalidGrant)
	}
	if c := max(len(eq), len(sub)); c > 8 {
		return fmt.Errorf("%w: a constraint holds %d pairs; the limit is 8", ErrInvalidGrant, c)
	}
	if eq != nil || sub != nil {
		for _, op := range g.Operations {
			if !contains(contextOperations, op) && op != "DescribeKey" && op != "RetireGrant" && op != "CreateGrant" {
				return fmt.Errorf("%w: %s takes no encryption context, so it cannot be constrained", ErrInvalidGrant, op)
			}
		}
	}
	return nil
}

func grantee(s string) (string, error) {
	if !strings.HasPrefix(s, "arn:") {
		p, err := ServicePrincipal(s)
		return p.ARN, err
	}
	_, _, _, err := parsePrincipalARN(s)
	return s, err
}

// match says whether the grant covers principal p: matchSession for the
// exact session ARN, matchDirect for the principal's own ARN or its role.
func (g *Grant) match(p *Principal) matchKind {
	switch {
	case g.GranteePrincipal == "":
		return matchNone
	case g.GranteePrincipal == p.ARN && p.Type == PrincipalRoleSession:
		return matchSession
	case g.GranteePrincipal == p.ARN:
		return matchDirect
	case p.Type == PrincipalRoleSession && g.GranteePrincipal == p.RoleARN:
		return matchDirect
	}
	return matchNone
}

// allows reports whether the grant allows request r, by principal match.
func (g *Grant) allows(r *Request) matchKind {
	if g.KeyARN != "" && g.KeyARN != r.Resource {
		return matchNone
	}
	op, ok := strings.CutPrefix(r.Action, "kms:")
	if !ok || !containsFold(g.Operations, op) {
		return matchNone
	}
	m := g.match(&r.Principal)
	if m == matchNone || !g.constraintHolds(op, &r.Context) || !g.narrowerGrant(op, &r.Context) {
		return matchNone
	}
	return m
}

// narrowerGrant applies AWS's rule for CreateGrant allowed by a grant: the
// new grant (its operations in kms:GrantOperations) may have the same or
// fewer permissions, never an operation this grant lacks.
func (g *Grant) narrowerGrant(op string, c *Context) bool {
	if !equalFoldASCII(op, "CreateGrant") {
		return true
	}
	ops := c.vals["kms:grantoperations"]
	if len(ops) == 0 {
		return false
	}
	for _, o := range ops {
		if !containsFold(g.Operations, o) {
			return false
		}
	}
	return true
}

// constraintHolds applies the grant's constraint. For CreateGrant the
// request's encryption context is the new grant's constraint (as AWS
// passes it to kms:EncryptionContext: conditions) and kms:GrantConstraintType
// names its type; the new grant must be at least as strict.
func (g *Grant) constraintHolds(op string, c *Context) bool {
	eq, sub := g.EncryptionContextEquals, g.EncryptionContextSubset
	if eq == nil && sub == nil {
		return true
	}
	ec := c.ec
	switch {
	case equalFoldASCII(op, "CreateGrant"):
		types := c.vals["kms:grantconstrainttype"]
		if len(types) != 1 {
			return false
		}
		if eq != nil {
			return types[0] == "EncryptionContextEquals" && maps.Equal(eq, ec)
		}
		return isSubset(sub, ec)
	case !containsFold(contextOperations, op):
		return true
	case eq != nil:
		return maps.Equal(eq, ec)
	}
	return isSubset(sub, ec)
}

func isSubset(sub, ec map[string]string) bool {
	for k, v := range sub {
		if w, ok := ec[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if equalFoldASCII(x, s) {
			return true
		}
	}
	return false
}
