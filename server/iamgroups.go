package server

import (
	"context"
	"errors"
	"slices"

	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func groupProto(g keystore.Group) *kmsv1.Group {
	return &kmsv1.Group{Path: g.Path, GroupName: g.GroupName, GroupId: g.GroupID, Arn: g.Arn, CreateDate: timestamp(g.CreateDate)}
}

func groupWhat(name string) string { return "The group with name " + name }

// CreateGroup creates a group with a new unique id.
func (is *iamService) CreateGroup(ctx context.Context, req *kmsv1.CreateGroupRequest) (*kmsv1.CreateGroupResponse, error) {
	name := req.GetGroupName()
	if err := validateGroupName(name); err != nil {
		return nil, err
	}
	path, err := entityPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	id, err := newUniqueID(is.s.rand, prefixGroupID, 21)
	if err != nil {
		return nil, err
	}
	g := &keystore.Group{GroupName: name, GroupID: id, Arn: is.entityARN("group", path, name), Path: path}
	err = is.propose(ctx, keystore.OpCreateGroup, keystore.IdentityMutation{Group: g})
	if err := mapStoreError(err, "Group with name "+name); err != nil {
		return nil, err
	}
	stored, ok := is.ids.Group(name)
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", groupWhat(name))
	}
	return &kmsv1.CreateGroupResponse{Group: groupProto(stored)}, nil
}

// GetGroup describes a group and lists its members.
func (is *iamService) GetGroup(ctx context.Context, req *kmsv1.GetGroupRequest) (*kmsv1.GetGroupResponse, error) {
	name := req.GetGroupName()
	if err := validateGroupName(name); err != nil {
		return nil, err
	}
	limit, err := maxItems(req.GetMaxItems())
	if err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	g, ok := is.ids.Group(name)
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", groupWhat(name))
	}
	members := slices.Sorted(slices.Values(g.Members))
	page, next, err := pageNames(members, limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.GetGroupResponse{Group: groupProto(g), IsTruncated: next != "", Marker: next}
	for _, m := range page {
		if u, ok := is.ids.User(m); ok {
			resp.Users = append(resp.Users, userProto(u))
		}
	}
	return resp, nil
}

// ListGroups lists the groups whose path starts with PathPrefix.
func (is *iamService) ListGroups(ctx context.Context, req *kmsv1.ListGroupsRequest) (*kmsv1.ListGroupsResponse, error) {
	prefix, err := pathPrefix(req.GetPathPrefix())
	if err != nil {
		return nil, err
	}
	limit, err := maxItems(req.GetMaxItems())
	if err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	groups, next, err := is.ids.Groups(prefix, limit, req.GetMarker())
	if err != nil {
		return nil, mapStoreError(err, "")
	}
	return &kmsv1.ListGroupsResponse{Groups: groupProtos(groups), IsTruncated: next != "", Marker: next}, nil
}

func groupProtos(groups []keystore.Group) []*kmsv1.Group {
	out := make([]*kmsv1.Group, 0, len(groups))
	for _, g := range groups {
		out = append(out, groupProto(g))
	}
	return out
}

// DeleteGroup deletes a group that has no members or policies left.
func (is *iamService) DeleteGroup(ctx context.Context, req *kmsv1.DeleteGroupRequest) (*kmsv1.DeleteGroupResponse, error) {
	name := req.GetGroupName()
	if err := validateGroupName(name); err != nil {
		return nil, err
	}
	err := is.propose(ctx, keystore.OpDeleteGroup, keystore.IdentityMutation{GroupName: name})
	if err := mapStoreError(err, groupWhat(name)); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteGroupResponse{}, nil
}

// AddUserToGroup makes a user a member of a group (at most ten groups
// per user). Adding a member again changes nothing.
func (is *iamService) AddUserToGroup(ctx context.Context, req *kmsv1.AddUserToGroupRequest) (*kmsv1.AddUserToGroupResponse, error) {
	if err := is.membership(ctx, keystore.OpAddUserToGroup, req.GetGroupName(), req.GetUserName()); err != nil {
		return nil, err
	}
	return &kmsv1.AddUserToGroupResponse{}, nil
}

// RemoveUserFromGroup takes a user out of a group.
func (is *iamService) RemoveUserFromGroup(ctx context.Context, req *kmsv1.RemoveUserFromGroupRequest) (*kmsv1.RemoveUserFromGroupResponse, error) {
	if err := is.membership(ctx, keystore.OpRemoveUserFromGroup, req.GetGroupName(), req.GetUserName()); err != nil {
		return nil, err
	}
	return &kmsv1.RemoveUserFromGroupResponse{}, nil
}

func (is *iamService) membership(ctx context.Context, op keystore.Op, group, user string) error {
	if err := validateGroupName(group); err != nil {
		return err
	}
	if err := validateUserName(user); err != nil {
		return err
	}
	err := is.propose(ctx, op, keystore.IdentityMutation{GroupName: group, UserName: user})
	switch {
	case errors.Is(err, keystore.ErrLimitExceeded):
		return iamLimit("Cannot exceed quota for GroupsPerUser: %d", keystore.MaxGroupsPerUser)
	case !errors.Is(err, keystore.ErrNotFound):
		return mapStoreError(err, "")
	}
	if _, ok := is.ids.Group(group); !ok {
		return noSuchEntity("%s cannot be found.", groupWhat(group))
	}
	if _, ok := is.ids.User(user); !ok {
		return noSuchEntity("%s cannot be found.", userWhat(user))
	}
	return noSuchEntity("The user with name %s is not a member of the group %s.", user, group)
}

// ListGroupsForUser lists the groups a user is in.
func (is *iamService) ListGroupsForUser(ctx context.Context, req *kmsv1.ListGroupsForUserRequest) (*kmsv1.ListGroupsForUserResponse, error) {
	name := req.GetUserName()
	if err := validateUserName(name); err != nil {
		return nil, err
	}
	limit, err := maxItems(req.GetMaxItems())
	if err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	groups, next, err := is.ids.GroupsForUser(name, limit, req.GetMarker())
	if err != nil {
		return nil, mapStoreError(err, userWhat(name))
	}
	return &kmsv1.ListGroupsForUserResponse{Groups: groupProtos(groups), IsTruncated: next != "", Marker: next}, nil
}
