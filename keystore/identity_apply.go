package keystore

import (
	"fmt"
	"slices"
	"strings"
)

// identityPlanners dispatches the identity ops (see planners).
var identityPlanners = map[Op]planFunc{
	OpCreateUser:             planCreateUser,
	OpDeleteUser:             planDeleteUser,
	OpCreateAccessKey:        planCreateAccessKey,
	OpUpdateAccessKey:        planUpdateAccessKey,
	OpDeleteAccessKey:        planDeleteAccessKey,
	OpCreateGroup:            planCreateGroup,
	OpDeleteGroup:            planDeleteGroup,
	OpAddUserToGroup:         planAddUserToGroup,
	OpRemoveUserFromGroup:    planRemoveUserFromGroup,
	OpCreateRole:             planCreateRole,
	OpDeleteRole:             planDeleteRole,
	OpUpdateAssumeRolePolicy: planUpdateAssumeRolePolicy,
	OpPutUserPolicy:          planPutPolicy,
	OpDeleteUserPolicy:       planDeletePolicy,
	OpPutGroupPolicy:         planPutPolicy,
	OpDeleteGroupPolicy:      planDeletePolicy,
	OpPutRolePolicy:          planPutPolicy,
	OpDeleteRolePolicy:       planDeletePolicy,
	OpAttachUserPolicy:       planAttachPolicy,
	OpDetachUserPolicy:       planDetachPolicy,
	OpAttachGroupPolicy:      planAttachPolicy,
	OpDetachGroupPolicy:      planDetachPolicy,
	OpAttachRolePolicy:       planAttachPolicy,
	OpDetachRolePolicy:       planDetachPolicy,
}

// identityArgs returns m's identity arguments, or ErrInvalidMutation.
func identityArgs(m *Mutation) (*IdentityMutation, error) {
	if m.IAM == nil {
		return nil, fmt.Errorf("%w: %s without arguments", ErrInvalidMutation, m.Op)
	}
	return m.IAM, nil
}

func iamChange(ic *identityChange) change { return change{iam: ic} }

func (v *view) user(op Op, name string) (*User, error) {
	u, ok := v.iam.users[fold(name)]
	if !ok || name == "" {
		return nil, fmt.Errorf("%s: user %q: %w", op, name, ErrNotFound)
	}
	return u, nil
}

func (v *view) group(op Op, name string) (*Group, error) {
	g, ok := v.iam.groups[fold(name)]
	if !ok || name == "" {
		return nil, fmt.Errorf("%s: group %q: %w", op, name, ErrNotFound)
	}
	return g, nil
}

func (v *view) role(op Op, name string) (*Role, error) {
	r, ok := v.iam.roles[fold(name)]
	if !ok || name == "" {
		return nil, fmt.Errorf("%s: role %q: %w", op, name, ErrNotFound)
	}
	return r, nil
}

func planCreateUser(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	u := a.User
	if u == nil || u.UserName == "" || u.UserID == "" || u.Arn == "" {
		return change{}, fmt.Errorf("%w: %s without a user", ErrInvalidMutation, m.Op)
	}
	if _, ok := v.iam.users[fold(u.UserName)]; ok {
		return change{}, fmt.Errorf("%s: user %q: %w", m.Op, u.UserName, ErrAlreadyExists)
	}
	if len(v.iam.users) >= MaxUsers {
		return change{}, fmt.Errorf("%s: %d users: %w", m.Op, MaxUsers, ErrLimitExceeded)
	}
	nu := *u
	nu.CreateDate, nu.Policies = m.Time.UTC(), Policies{}
	return iamChange(&identityChange{putUsers: []*User{&nu}}), nil
}

func planDeleteUser(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	u, err := v.user(m.Op, a.UserName)
	if err != nil {
		return change{}, err
	}
	name := fold(u.UserName)
	if len(v.iam.keysOf[name]) > 0 || len(v.iam.groupsOf[name]) > 0 ||
		len(u.Policies.Inline) > 0 || len(u.Policies.Attached) > 0 || v.mfaDevicesOf(name) > 0 {
		return change{}, fmt.Errorf("%s: user %q has access keys, policies, groups or MFA devices: %w", m.Op, u.UserName, ErrDeleteConflict)
	}
	return iamChange(&identityChange{delUsers: []string{name}}), nil
}

func planCreateAccessKey(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	k := a.AccessKey
	if k == nil || k.AccessKeyID == "" || len(k.WrappedSecret) == 0 {
		return change{}, fmt.Errorf("%w: %s without an access key", ErrInvalidMutation, m.Op)
	}
	u, err := v.user(m.Op, k.UserName)
	if err != nil {
		return change{}, err
	}
	if _, ok := v.iam.keys[k.AccessKeyID]; ok {
		return change{}, fmt.Errorf("%s: access key %q: %w", m.Op, k.AccessKeyID, ErrAlreadyExists)
	}
	if len(v.iam.keysOf[fold(u.UserName)]) >= MaxAccessKeysPerUser {
		return change{}, fmt.Errorf("%s: user %q has %d access keys: %w", m.Op, u.UserName, MaxAccessKeysPerUser, ErrLimitExceeded)
	}
	nk := *k
	nk.UserName, nk.Status, nk.CreateDate = u.UserName, AccessKeyActive, m.Time.UTC()
	nk.WrappedSecret = slices.Clone(k.WrappedSecret)
	return iamChange(&identityChange{putKeys: []*AccessKey{&nk}}), nil
}

// accessKey finds the access key a names; when a names a user too, the
// key must be that user's.
func (v *view) accessKey(m *Mutation, a *IdentityMutation) (*AccessKey, error) {
	if a.UserName != "" {
		if _, err := v.user(m.Op, a.UserName); err != nil {
			return nil, err
		}
	}
	k, ok := v.iam.keys[a.AccessKeyID]
	if !ok || a.UserName != "" && fold(a.UserName) != fold(k.UserName) {
		return nil, fmt.Errorf("%s: access key %q: %w", m.Op, a.AccessKeyID, ErrNotFound)
	}
	return k, nil
}

func planUpdateAccessKey(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	if a.Status != AccessKeyActive && a.Status != AccessKeyInactive {
		return change{}, fmt.Errorf("%w: %s with status %q", ErrInvalidMutation, m.Op, a.Status)
	}
	k, err := v.accessKey(m, a)
	if err != nil {
		return change{}, err
	}
	nk := *k
	nk.Status = a.Status
	return iamChange(&identityChange{putKeys: []*AccessKey{&nk}}), nil
}

func planDeleteAccessKey(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	k, err := v.accessKey(m, a)
	if err != nil {
		return change{}, err
	}
	return iamChange(&identityChange{delKeys: []string{k.AccessKeyID}}), nil
}

func planCreateGroup(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	g := a.Group
	if g == nil || g.GroupName == "" || g.GroupID == "" || g.Arn == "" {
		return change{}, fmt.Errorf("%w: %s without a group", ErrInvalidMutation, m.Op)
	}
	if _, ok := v.iam.groups[fold(g.GroupName)]; ok {
		return change{}, fmt.Errorf("%s: group %q: %w", m.Op, g.GroupName, ErrAlreadyExists)
	}
	if len(v.iam.groups) >= MaxGroups {
		return change{}, fmt.Errorf("%s: %d groups: %w", m.Op, MaxGroups, ErrLimitExceeded)
	}
	ng := *g
	ng.CreateDate, ng.Members, ng.Policies = m.Time.UTC(), nil, Policies{}
	return iamChange(&identityChange{putGroups: []*Group{&ng}}), nil
}

func planDeleteGroup(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	g, err := v.group(m.Op, a.GroupName)
	if err != nil {
		return change{}, err
	}
	if len(g.Members) > 0 || len(g.Policies.Inline) > 0 || len(g.Policies.Attached) > 0 {
		return change{}, fmt.Errorf("%s: group %q has members or policies: %w", m.Op, g.GroupName, ErrDeleteConflict)
	}
	return iamChange(&identityChange{delGroups: []string{fold(g.GroupName)}}), nil
}

// membership returns the group and user a names and the index of the user
// among the group's members (or where it would go).
func (v *view) membership(m *Mutation) (*Group, *User, int, bool, error) {
	a, err := identityArgs(m)
	if err != nil {
		return nil, nil, 0, false, err
	}
	g, err := v.group(m.Op, a.GroupName)
	if err != nil {
		return nil, nil, 0, false, err
	}
	u, err := v.user(m.Op, a.UserName)
	if err != nil {
		return nil, nil, 0, false, err
	}
	i, found := slices.BinarySearchFunc(g.Members, fold(u.UserName), func(member, target string) int {
		return strings.Compare(fold(member), target)
	})
	return g, u, i, found, nil
}

func planAddUserToGroup(v *view, m *Mutation) (change, error) {
	g, u, i, found, err := v.membership(m)
	if err != nil || found {
		return change{}, err // already a member: nothing to do, as in AWS
	}
	if len(v.iam.groupsOf[fold(u.UserName)]) >= MaxGroupsPerUser {
		return change{}, fmt.Errorf("%s: user %q is in %d groups: %w", m.Op, u.UserName, MaxGroupsPerUser, ErrLimitExceeded)
	}
	ng := *g
	ng.Members = slices.Insert(slices.Clone(g.Members), i, u.UserName)
	return iamChange(&identityChange{putGroups: []*Group{&ng}}), nil
}

func planRemoveUserFromGroup(v *view, m *Mutation) (change, error) {
	g, u, i, found, err := v.membership(m)
	if err != nil {
		return change{}, err
	}
	if !found {
		return change{}, fmt.Errorf("%s: user %q is not in group %q: %w", m.Op, u.UserName, g.GroupName, ErrNotFound)
	}
	ng := *g
	ng.Members = slices.Delete(slices.Clone(g.Members), i, i+1)
	return iamChange(&identityChange{putGroups: []*Group{&ng}}), nil
}

func planCreateRole(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	r := a.Role
	if r == nil || r.RoleName == "" || r.RoleID == "" || r.Arn == "" || r.AssumeRolePolicyDocument == "" {
		return change{}, fmt.Errorf("%w: %s without a role", ErrInvalidMutation, m.Op)
	}
	if _, ok := v.iam.roles[fold(r.RoleName)]; ok {
		return change{}, fmt.Errorf("%s: role %q: %w", m.Op, r.RoleName, ErrAlreadyExists)
	}
	if len(v.iam.roles) >= MaxRoles {
		return change{}, fmt.Errorf("%s: %d roles: %w", m.Op, MaxRoles, ErrLimitExceeded)
	}
	nr := *r
	nr.CreateDate, nr.Policies = m.Time.UTC(), Policies{}
	return iamChange(&identityChange{putRoles: []*Role{&nr}}), nil
}

func planDeleteRole(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	r, err := v.role(m.Op, a.RoleName)
	if err != nil {
		return change{}, err
	}
	if len(r.Policies.Inline) > 0 || len(r.Policies.Attached) > 0 {
		return change{}, fmt.Errorf("%s: role %q has policies: %w", m.Op, r.RoleName, ErrDeleteConflict)
	}
	return iamChange(&identityChange{delRoles: []string{fold(r.RoleName)}}), nil
}

func planUpdateAssumeRolePolicy(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	if a.PolicyDocument == "" {
		return change{}, fmt.Errorf("%w: %s without a document", ErrInvalidMutation, m.Op)
	}
	r, err := v.role(m.Op, a.RoleName)
	if err != nil {
		return change{}, err
	}
	nr := *r
	nr.AssumeRolePolicyDocument = a.PolicyDocument
	return iamChange(&identityChange{putRoles: []*Role{&nr}}), nil
}
