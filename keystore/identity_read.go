package keystore

import (
	"maps"
	"slices"
	"strings"
)

// Reads of the identities. They answer from memory and return copies: the
// caller may keep and change them. Names are matched regardless of case.

// Markers of the identity listings (see list.go).
const (
	markerUsers      = "iu1:"
	markerGroups     = "ig1:"
	markerRoles      = "ir1:"
	markerUserGroups = "iug1:"
)

func (u *User) clone() User {
	c := *u
	c.Policies = u.Policies.clone()
	return c
}

func (g *Group) clone() Group {
	c := *g
	c.Members = slices.Clone(g.Members)
	c.Policies = g.Policies.clone()
	return c
}

func (r *Role) clone() Role {
	c := *r
	c.Policies = r.Policies.clone()
	return c
}

func (k *AccessKey) clone() AccessKey {
	c := *k
	c.WrappedSecret = slices.Clone(k.WrappedSecret)
	return c
}

// User returns the user with the given name.
func (s *Store) User(name string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.v.iam.users[fold(name)]
	if !ok {
		return User{}, false
	}
	return u.clone(), true
}

// UserRef names a user: what authentication needs of it.
type UserRef struct {
	UserName, UserID, Arn string
}

// UserRef returns the name, id and ARN of the user with the given name.
// Unlike User it copies nothing, so it costs the same for every user.
func (s *Store) UserRef(name string) (UserRef, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.v.iam.users[fold(name)]
	if !ok {
		return UserRef{}, false
	}
	return UserRef{UserName: u.UserName, UserID: u.UserID, Arn: u.Arn}, true
}

// Group returns the group with the given name, members included.
func (s *Store) Group(name string) (Group, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g, ok := s.v.iam.groups[fold(name)]
	if !ok {
		return Group{}, false
	}
	return g.clone(), true
}

// Role returns the role with the given name.
func (s *Store) Role(name string) (Role, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.v.iam.roles[fold(name)]
	if !ok {
		return Role{}, false
	}
	return r.clone(), true
}

// AccessKey returns the access key with the given id (compared exactly),
// its secret wrapped.
func (s *Store) AccessKey(id string) (AccessKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.v.iam.keys[id]
	if !ok {
		return AccessKey{}, false
	}
	return k.clone(), true
}

// AccessKeys returns the access keys of a user (at most
// MaxAccessKeysPerUser), sorted by id, or ErrNotFound if there is no such
// user.
func (s *Store) AccessKeys(userName string) ([]AccessKey, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.v.iam.users[fold(userName)]; !ok {
		return nil, ErrNotFound
	}
	var out []AccessKey
	for _, id := range s.v.iam.keysOf[fold(userName)] {
		out = append(out, s.v.iam.keys[id].clone())
	}
	return out, nil
}

// Users returns up to limit users (all when limit <= 0) whose path starts
// with pathPrefix, sorted by name regardless of case, starting after
// marker. nextMarker is "" on the last page; a marker Users did not return
// is ErrInvalidMarker.
func (s *Store) Users(pathPrefix string, limit int, marker string) ([]User, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return pageOf(s.v.iam.users, markerUsers, marker, limit, func(u *User) (bool, User) {
		return strings.HasPrefix(u.Path, pathPrefix), u.clone()
	})
}

// Groups lists groups as Users lists users.
func (s *Store) Groups(pathPrefix string, limit int, marker string) ([]Group, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return pageOf(s.v.iam.groups, markerGroups, marker, limit, func(g *Group) (bool, Group) {
		return strings.HasPrefix(g.Path, pathPrefix), g.clone()
	})
}

// Roles lists roles as Users lists users.
func (s *Store) Roles(pathPrefix string, limit int, marker string) ([]Role, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return pageOf(s.v.iam.roles, markerRoles, marker, limit, func(r *Role) (bool, Role) {
		return strings.HasPrefix(r.Path, pathPrefix), r.clone()
	})
}

// GroupsForUser lists the groups a user is in, as Groups does, or returns
// ErrNotFound if there is no such user.
func (s *Store) GroupsForUser(userName string, limit int, marker string) ([]Group, string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, ok := s.v.iam.users[fold(userName)]; !ok {
		return nil, "", ErrNotFound
	}
	in := s.v.iam.groupsOf[fold(userName)]
	return pageOf(s.v.iam.groups, markerUserGroups, marker, limit, func(g *Group) (bool, Group) {
		_, found := slices.BinarySearch(in, fold(g.GroupName))
		return found, g.clone()
	})
}

// pageOf returns one page of the records of m (keyed by folded name) that
// keep accepts, in key order.
func pageOf[T any, R any](m map[string]*T, kind, marker string, limit int, keep func(*T) (bool, R)) ([]R, string, error) {
	after, err := decodeMarker(kind, marker)
	if err != nil {
		return nil, "", err
	}
	var out []R
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if k <= after {
			continue
		}
		ok, r := keep(m[k])
		if !ok {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, encodeMarker(kind, after), nil
		}
		out, after = append(out, r), k
	}
	return out, "", nil
}

// UserPolicies returns the identity policies of a user: its inline
// policies (by name) and attached managed policies, then those of each of
// its groups, in group order. It returns ErrNotFound if there is no such
// user.
func (s *Store) UserPolicies(userName string) ([]PolicyRef, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.v.iam.users[fold(userName)]
	if !ok {
		return nil, ErrNotFound
	}
	out := policyRefs(nil, "user/"+u.UserName, u.Policies)
	for _, gname := range s.v.iam.groupsOf[fold(userName)] {
		g := s.v.iam.groups[gname]
		out = policyRefs(out, "group/"+g.GroupName, g.Policies)
	}
	return out, nil
}

// RolePolicies returns the identity policies of a role, or ErrNotFound.
func (s *Store) RolePolicies(roleName string) ([]PolicyRef, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, ok := s.v.iam.roles[fold(roleName)]
	if !ok {
		return nil, ErrNotFound
	}
	return policyRefs(nil, "role/"+r.RoleName, r.Policies), nil
}

func policyRefs(out []PolicyRef, from string, p Policies) []PolicyRef {
	for _, name := range slices.Sorted(maps.Keys(p.Inline)) {
		out = append(out, PolicyRef{From: from, Name: name, Document: p.Inline[name]})
	}
	for _, arn := range p.Attached {
		out = append(out, PolicyRef{From: from, Name: arn, Managed: true})
	}
	return out
}

// EntitiesForPolicy counts the users, groups and roles a managed policy is
// attached to.
func (s *Store) EntitiesForPolicy(arn string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := 0
	for _, u := range s.v.iam.users {
		if _, ok := slices.BinarySearch(u.Policies.Attached, arn); ok {
			n++
		}
	}
	for _, g := range s.v.iam.groups {
		if _, ok := slices.BinarySearch(g.Policies.Attached, arn); ok {
			n++
		}
	}
	for _, r := range s.v.iam.roles {
		if _, ok := slices.BinarySearch(r.Policies.Attached, arn); ok {
			n++
		}
	}
	return n
}
