package server

import (
	"context"
	"strconv"

	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func roleProto(r keystore.Role) *kmsv1.Role {
	return &kmsv1.Role{Path: r.Path, RoleName: r.RoleName, RoleId: r.RoleID, Arn: r.Arn, CreateDate: timestamp(r.CreateDate),
		AssumeRolePolicyDocument: r.AssumeRolePolicyDocument, Description: r.Description, MaxSessionDuration: r.MaxSessionDuration}
}

func roleWhat(name string) string { return "The role with name " + name }

// CreateRole creates a role with a trust policy (who may assume it) and a
// new unique id.
func (is *iamService) CreateRole(ctx context.Context, req *kmsv1.CreateRoleRequest) (*kmsv1.CreateRoleResponse, error) {
	name := req.GetRoleName()
	if err := validateRoleName(name); err != nil {
		return nil, err
	}
	path, err := entityPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	if err := validateRoleDescription(req.GetDescription()); err != nil {
		return nil, err
	}
	maxSession := req.GetMaxSessionDuration()
	if maxSession == 0 {
		maxSession = minSessionSeconds
	}
	if maxSession < minSessionSeconds || maxSession > maxSessionSeconds {
		return nil, constraintError("maxSessionDuration", strconv.Itoa(int(maxSession)), "must have value less than or equal to 43200 and greater than or equal to 3600")
	}
	if err := parsePolicy(req.GetAssumeRolePolicyDocument(), iam.TrustPolicy); err != nil {
		return nil, err
	}
	id, err := newUniqueID(is.s.rand, prefixRoleID, 21)
	if err != nil {
		return nil, err
	}
	r := &keystore.Role{RoleName: name, RoleID: id, Arn: is.entityARN("role", path, name), Path: path,
		Description: req.GetDescription(), AssumeRolePolicyDocument: req.GetAssumeRolePolicyDocument(), MaxSessionDuration: maxSession}
	err = is.propose(ctx, keystore.OpCreateRole, keystore.IdentityMutation{Role: r})
	if err := mapStoreError(err, "Role with name "+name); err != nil {
		return nil, err
	}
	stored, ok := is.ids.Role(name)
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", roleWhat(name))
	}
	return &kmsv1.CreateRoleResponse{Role: roleProto(stored)}, nil
}

// GetRole describes a role, its trust policy included.
func (is *iamService) GetRole(ctx context.Context, req *kmsv1.GetRoleRequest) (*kmsv1.GetRoleResponse, error) {
	name := req.GetRoleName()
	if err := validateRoleName(name); err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	r, ok := is.ids.Role(name)
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", roleWhat(name))
	}
	return &kmsv1.GetRoleResponse{Role: roleProto(r)}, nil
}

// ListRoles lists the roles whose path starts with PathPrefix.
func (is *iamService) ListRoles(ctx context.Context, req *kmsv1.ListRolesRequest) (*kmsv1.ListRolesResponse, error) {
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
	roles, next, err := is.ids.Roles(prefix, limit, req.GetMarker())
	if err != nil {
		return nil, mapStoreError(err, "")
	}
	resp := &kmsv1.ListRolesResponse{IsTruncated: next != "", Marker: next}
	for _, r := range roles {
		resp.Roles = append(resp.Roles, roleProto(r))
	}
	return resp, nil
}

// DeleteRole deletes a role that has no policies left.
func (is *iamService) DeleteRole(ctx context.Context, req *kmsv1.DeleteRoleRequest) (*kmsv1.DeleteRoleResponse, error) {
	name := req.GetRoleName()
	if err := validateRoleName(name); err != nil {
		return nil, err
	}
	err := is.propose(ctx, keystore.OpDeleteRole, keystore.IdentityMutation{RoleName: name})
	if err := mapStoreError(err, roleWhat(name)); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteRoleResponse{}, nil
}

// UpdateAssumeRolePolicy replaces a role's trust policy.
func (is *iamService) UpdateAssumeRolePolicy(ctx context.Context, req *kmsv1.UpdateAssumeRolePolicyRequest) (*kmsv1.UpdateAssumeRolePolicyResponse, error) {
	name := req.GetRoleName()
	if err := validateRoleName(name); err != nil {
		return nil, err
	}
	if err := parsePolicy(req.GetPolicyDocument(), iam.TrustPolicy); err != nil {
		return nil, err
	}
	err := is.propose(ctx, keystore.OpUpdateAssumeRolePolicy, keystore.IdentityMutation{RoleName: name, PolicyDocument: req.GetPolicyDocument()})
	if err := mapStoreError(err, roleWhat(name)); err != nil {
		return nil, err
	}
	return &kmsv1.UpdateAssumeRolePolicyResponse{}, nil
}
