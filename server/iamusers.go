package server

import (
	"context"

	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func userProto(u keystore.User) *kmsv1.User {
	return &kmsv1.User{Path: u.Path, UserName: u.UserName, UserId: u.UserID, Arn: u.Arn, CreateDate: timestamp(u.CreateDate)}
}

func userWhat(name string) string { return "The user with name " + name }

// CreateUser creates a user with a new unique id.
func (is *iamService) CreateUser(ctx context.Context, req *kmsv1.CreateUserRequest) (*kmsv1.CreateUserResponse, error) {
	name := req.GetUserName()
	if err := validateUserName(name); err != nil {
		return nil, err
	}
	path, err := entityPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	id, err := newUniqueID(is.s.rand, prefixUserID, 21)
	if err != nil {
		return nil, err
	}
	u := &keystore.User{UserName: name, UserID: id, Arn: is.entityARN("user", path, name), Path: path}
	err = is.propose(ctx, keystore.OpCreateUser, keystore.IdentityMutation{User: u})
	if err := mapStoreError(err, "User with name "+name); err != nil {
		return nil, err
	}
	return is.getUser(name)
}

func (is *iamService) getUser(name string) (*kmsv1.CreateUserResponse, error) {
	u, ok := is.ids.User(name)
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", userWhat(name))
	}
	return &kmsv1.CreateUserResponse{User: userProto(u)}, nil
}

// GetUser describes a user.
func (is *iamService) GetUser(ctx context.Context, req *kmsv1.GetUserRequest) (*kmsv1.GetUserResponse, error) {
	if err := validateUserName(req.GetUserName()); err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	resp, err := is.getUser(req.GetUserName())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetUserResponse{User: resp.User}, nil
}

// ListUsers lists the users whose path starts with PathPrefix.
func (is *iamService) ListUsers(ctx context.Context, req *kmsv1.ListUsersRequest) (*kmsv1.ListUsersResponse, error) {
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
	users, next, err := is.ids.Users(prefix, limit, req.GetMarker())
	if err != nil {
		return nil, mapStoreError(err, "")
	}
	resp := &kmsv1.ListUsersResponse{IsTruncated: next != "", Marker: next}
	for _, u := range users {
		resp.Users = append(resp.Users, userProto(u))
	}
	return resp, nil
}

// DeleteUser deletes a user that has no access keys, policies or groups
// left.
func (is *iamService) DeleteUser(ctx context.Context, req *kmsv1.DeleteUserRequest) (*kmsv1.DeleteUserResponse, error) {
	name := req.GetUserName()
	if err := validateUserName(name); err != nil {
		return nil, err
	}
	err := is.propose(ctx, keystore.OpDeleteUser, keystore.IdentityMutation{UserName: name})
	if err := mapStoreError(err, userWhat(name)); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteUserResponse{}, nil
}
