package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
)

// Identity policies of users, groups and roles: inline documents by name,
// and attachments of the predefined managed policies (iam.ManagedPolicies).
// The handlers for the three kinds of entity share the code below.

// policyTarget is the user, group or role whose policies a call reads or
// changes.
type policyTarget struct {
	kind string // "user", "group" or "role"
	name string
}

func (t policyTarget) validate() error {
	switch t.kind {
	case "user":
		return validateUserName(t.name)
	case "group":
		return validateGroupName(t.name)
	}
	return validateRoleName(t.name)
}

func (t policyTarget) what() string { return "The " + t.kind + " with name " + t.name }

func (t policyTarget) args() keystore.IdentityMutation {
	switch t.kind {
	case "user":
		return keystore.IdentityMutation{UserName: t.name}
	case "group":
		return keystore.IdentityMutation{GroupName: t.name}
	}
	return keystore.IdentityMutation{RoleName: t.name}
}

// op returns the op of verb ("Put", "Delete", "Attach", "Detach") for the
// target's kind: "PutUserPolicy" and so on.
func (t policyTarget) op(verb string) keystore.Op {
	return keystore.Op(verb + strings.ToUpper(t.kind[:1]) + t.kind[1:] + "Policy")
}

// policies returns the target's policies.
func (is *iamService) policies(t policyTarget) (keystore.Policies, error) {
	var p keystore.Policies
	ok := false
	switch t.kind {
	case "user":
		var u keystore.User
		u, ok = is.ids.User(t.name)
		p = u.Policies
	case "group":
		var g keystore.Group
		g, ok = is.ids.Group(t.name)
		p = g.Policies
	default:
		var r keystore.Role
		r, ok = is.ids.Role(t.name)
		p = r.Policies
	}
	if !ok {
		return p, noSuchEntity("%s cannot be found.", t.what())
	}
	return p, nil
}

// putPolicy adds or replaces an inline policy, checked with iam.Parse.
func (is *iamService) putPolicy(ctx context.Context, t policyTarget, name, doc string) error {
	if err := t.validate(); err != nil {
		return err
	}
	if err := validatePolicyName(name); err != nil {
		return err
	}
	if err := parsePolicy(doc, iam.IdentityPolicy); err != nil {
		return err
	}
	a := t.args()
	a.PolicyName, a.PolicyDocument = name, doc
	err := is.propose(ctx, t.op("Put"), a)
	if errors.Is(err, keystore.ErrLimitExceeded) {
		return iamLimit("Maximum policy size of %d bytes exceeded for %s %s.", inlineLimit(t.kind), t.kind, t.name)
	}
	return mapStoreError(err, t.what())
}

func inlineLimit(kind string) int {
	switch kind {
	case "user":
		return keystore.MaxUserInlinePolicies
	case "group":
		return keystore.MaxGroupInlinePolicies
	}
	return keystore.MaxRoleInlinePolicies
}

// getPolicy returns an inline policy's name, as stored, and document.
func (is *iamService) getPolicy(ctx context.Context, t policyTarget, name string) (string, string, error) {
	if err := t.validate(); err != nil {
		return "", "", err
	}
	if err := validatePolicyName(name); err != nil {
		return "", "", err
	}
	if err := is.read(ctx); err != nil {
		return "", "", err
	}
	p, err := is.policies(t)
	if err != nil {
		return "", "", err
	}
	for n, doc := range p.Inline {
		if strings.EqualFold(n, name) {
			return n, doc, nil
		}
	}
	return "", "", noSuchEntity("%s policy with name %s cannot be found.", strings.ToUpper(t.kind[:1])+t.kind[1:], name)
}

func (is *iamService) deletePolicy(ctx context.Context, t policyTarget, name string) error {
	if err := t.validate(); err != nil {
		return err
	}
	if err := validatePolicyName(name); err != nil {
		return err
	}
	a := t.args()
	a.PolicyName = name
	err := is.propose(ctx, t.op("Delete"), a)
	if errors.Is(err, keystore.ErrNotFound) {
		if _, perr := is.policies(t); perr != nil {
			return perr
		}
		return noSuchEntity("The %s policy with name %s cannot be found.", t.kind, name)
	}
	return mapStoreError(err, t.what())
}

// listPolicies pages through the names of the target's inline policies.
func (is *iamService) listPolicies(ctx context.Context, t policyTarget, max int32, marker string) ([]string, string, error) {
	if err := t.validate(); err != nil {
		return nil, "", err
	}
	limit, err := maxItems(max)
	if err != nil {
		return nil, "", err
	}
	if err := is.read(ctx); err != nil {
		return nil, "", err
	}
	p, err := is.policies(t)
	if err != nil {
		return nil, "", err
	}
	return pageNames(slices.Sorted(maps.Keys(p.Inline)), limit, marker)
}

// attach attaches (or, with verb "Detach", detaches) a managed policy.
func (is *iamService) attach(ctx context.Context, t policyTarget, verb, arn string) error {
	if err := t.validate(); err != nil {
		return err
	}
	if len(arn) < 20 || len(arn) > 2048 {
		return constraintError("policyArn", arn, "must have length less than or equal to 2048 and greater than or equal to 20")
	}
	mp, ok := iam.LookupManagedPolicy(arn)
	if !ok || mp.ARN() != arn {
		return noSuchEntity("Policy %s does not exist or is not attachable.", arn)
	}
	a := t.args()
	a.PolicyARN = arn
	err := is.propose(ctx, t.op(verb), a)
	switch {
	case errors.Is(err, keystore.ErrLimitExceeded):
		return iamLimit("Cannot exceed quota for PoliciesPer%s: %d", strings.ToUpper(t.kind[:1])+t.kind[1:], keystore.MaxAttachedPolicies)
	case errors.Is(err, keystore.ErrNotFound) && verb == "Detach":
		if _, perr := is.policies(t); perr != nil {
			return perr
		}
		return noSuchEntity("Policy %s was not found.", arn)
	}
	return mapStoreError(err, t.what())
}

// attached pages through the managed policies attached to the target
// whose path (always "/") starts with prefix.
func (is *iamService) attached(ctx context.Context, t policyTarget, prefix string, max int32, marker string) ([]iam.ManagedPolicy, string, error) {
	if err := t.validate(); err != nil {
		return nil, "", err
	}
	prefix, err := pathPrefix(prefix)
	if err != nil {
		return nil, "", err
	}
	limit, err := maxItems(max)
	if err != nil {
		return nil, "", err
	}
	if err := is.read(ctx); err != nil {
		return nil, "", err
	}
	p, err := is.policies(t)
	if err != nil {
		return nil, "", err
	}
	var arns []string
	if strings.HasPrefix("/", prefix) {
		arns = p.Attached
	}
	page, next, err := pageNames(arns, limit, marker)
	var out []iam.ManagedPolicy
	for _, arn := range page {
		if mp, ok := iam.LookupManagedPolicy(arn); ok {
			out = append(out, mp)
		}
	}
	return out, next, err
}

// identityPolicies resolves policy references into parsed policies named
// "user/alice/NAME" (inline) or by ARN (managed), each parsed once (see
// policyCache). A stored document that no longer parses, or an unknown
// managed policy, is an error: refusing is safer than evaluating without
// it, since the policy may hold a Deny.
func (s *Server) identityPolicies(refs []keystore.PolicyRef) ([]*iam.Policy, error) {
	out := make([]*iam.Policy, 0, len(refs))
	for _, r := range refs {
		if r.Managed {
			mp, ok := iam.LookupManagedPolicy(r.Name)
			if !ok {
				return nil, errors.New("server: unknown managed policy " + r.Name + " attached to " + r.From)
			}
			p, err := s.policies.named(mp.ARN(), mp.Document, iam.IdentityPolicy)
			if err != nil {
				return nil, err
			}
			out = append(out, p)
			continue
		}
		p, err := s.policies.named(r.From+"/"+r.Name, r.Document, iam.IdentityPolicy)
		if err != nil {
			return nil, errors.New("server: stored policy " + r.From + "/" + r.Name + " does not parse: " + err.Error())
		}
		out = append(out, p)
	}
	return out, nil
}

// userIdentityPolicies returns the parsed identity policies of a user: its
// own inline and managed policies and those of its groups. An unknown
// user is keystore.ErrNotFound.
func (s *Server) userIdentityPolicies(name string) ([]*iam.Policy, error) {
	ids, ok := s.identityStore()
	if !ok {
		return nil, keystore.ErrNotFound
	}
	refs, err := ids.UserPolicies(name)
	if err != nil {
		return nil, err
	}
	return s.identityPolicies(refs)
}

// roleIdentityPolicies returns the parsed identity policies of a role.
func (s *Server) roleIdentityPolicies(name string) ([]*iam.Policy, error) {
	ids, ok := s.identityStore()
	if !ok {
		return nil, keystore.ErrNotFound
	}
	refs, err := ids.RolePolicies(name)
	if err != nil {
		return nil, err
	}
	return s.identityPolicies(refs)
}

// managedPolicyID is a predefined policy's unique id, derived from its
// name so that every member answers the same.
func managedPolicyID(mp iam.ManagedPolicy) string {
	sum := sha256.Sum256([]byte("kmsd managed policy " + mp.Name))
	return (prefixPolicyID + idEncoding.EncodeToString(sum[:]))[:21]
}

func sortedStrings(s []string) []string {
	slices.Sort(s)
	return s
}
