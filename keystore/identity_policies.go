package keystore

import (
	"fmt"
	"slices"
	"strings"
)

// entity is the user, group or role whose policies a mutation changes.
type entity struct {
	kind      string // "user", "group" or "role"
	name      string // as stored
	policies  Policies
	inlineMax int
	// with returns the change that gives the entity policies p.
	with func(p Policies) change
}

func (v *view) policyEntity(m *Mutation, a *IdentityMutation) (entity, error) {
	switch m.Op {
	case OpPutUserPolicy, OpDeleteUserPolicy, OpAttachUserPolicy, OpDetachUserPolicy:
		u, err := v.user(m.Op, a.UserName)
		if err != nil {
			return entity{}, err
		}
		return entity{"user", u.UserName, u.Policies, MaxUserInlinePolicies, func(p Policies) change {
			nu := *u
			nu.Policies = p
			return iamChange(&identityChange{putUsers: []*User{&nu}})
		}}, nil
	case OpPutGroupPolicy, OpDeleteGroupPolicy, OpAttachGroupPolicy, OpDetachGroupPolicy:
		g, err := v.group(m.Op, a.GroupName)
		if err != nil {
			return entity{}, err
		}
		return entity{"group", g.GroupName, g.Policies, MaxGroupInlinePolicies, func(p Policies) change {
			ng := *g
			ng.Policies = p
			return iamChange(&identityChange{putGroups: []*Group{&ng}})
		}}, nil
	case OpPutRolePolicy, OpDeleteRolePolicy, OpAttachRolePolicy, OpDetachRolePolicy:
		r, err := v.role(m.Op, a.RoleName)
		if err != nil {
			return entity{}, err
		}
		return entity{"role", r.RoleName, r.Policies, MaxRoleInlinePolicies, func(p Policies) change {
			nr := *r
			nr.Policies = p
			return iamChange(&identityChange{putRoles: []*Role{&nr}})
		}}, nil
	}
	return entity{}, fmt.Errorf("%w: %s is not a policy op", ErrInvalidMutation, m.Op)
}

// inlineName returns the name under which p holds the inline policy name,
// compared regardless of case.
func inlineName(p Policies, name string) (string, bool) {
	for k := range p.Inline {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

func planPutPolicy(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	if a.PolicyName == "" || a.PolicyDocument == "" {
		return change{}, fmt.Errorf("%w: %s without a policy", ErrInvalidMutation, m.Op)
	}
	e, err := v.policyEntity(m, a)
	if err != nil {
		return change{}, err
	}
	p := e.policies.clone()
	if p.Inline == nil {
		p.Inline = map[string]string{}
	}
	name := a.PolicyName
	if old, ok := inlineName(p, name); ok {
		name = old // a new document for the policy, under its name
	}
	p.Inline[name] = a.PolicyDocument
	if inlineSize(p.Inline) > e.inlineMax {
		return change{}, fmt.Errorf("%s: the inline policies of %s %q would exceed %d characters: %w",
			m.Op, e.kind, e.name, e.inlineMax, ErrLimitExceeded)
	}
	return e.with(p), nil
}

func planDeletePolicy(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	e, err := v.policyEntity(m, a)
	if err != nil {
		return change{}, err
	}
	name, ok := inlineName(e.policies, a.PolicyName)
	if !ok {
		return change{}, fmt.Errorf("%s: %s %q has no policy %q: %w", m.Op, e.kind, e.name, a.PolicyName, ErrNotFound)
	}
	p := e.policies.clone()
	delete(p.Inline, name)
	if len(p.Inline) == 0 {
		p.Inline = nil
	}
	return e.with(p), nil
}

// planAttachPolicy attaches a managed policy; the proposer checked that the
// ARN names one. Attaching it again changes nothing.
func planAttachPolicy(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	if a.PolicyARN == "" {
		return change{}, fmt.Errorf("%w: %s without a policy ARN", ErrInvalidMutation, m.Op)
	}
	e, err := v.policyEntity(m, a)
	if err != nil {
		return change{}, err
	}
	i, found := slices.BinarySearch(e.policies.Attached, a.PolicyARN)
	if found {
		return change{}, nil
	}
	if len(e.policies.Attached) >= MaxAttachedPolicies {
		return change{}, fmt.Errorf("%s: %s %q has %d managed policies: %w", m.Op, e.kind, e.name, MaxAttachedPolicies, ErrLimitExceeded)
	}
	p := e.policies.clone()
	p.Attached = slices.Insert(p.Attached, i, a.PolicyARN)
	return e.with(p), nil
}

func planDetachPolicy(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	e, err := v.policyEntity(m, a)
	if err != nil {
		return change{}, err
	}
	i, found := slices.BinarySearch(e.policies.Attached, a.PolicyARN)
	if !found {
		return change{}, fmt.Errorf("%s: policy %q is not attached to %s %q: %w", m.Op, a.PolicyARN, e.kind, e.name, ErrNotFound)
	}
	p := e.policies.clone()
	p.Attached = slices.Delete(p.Attached, i, i+1)
	if len(p.Attached) == 0 {
		p.Attached = nil
	}
	return e.with(p), nil
}
