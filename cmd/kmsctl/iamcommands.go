package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The iam commands manage identities (IdentityManagementService), named
// and flagged like "aws iam". Policy documents take file://PATH or JSON
// text. List commands follow every page (see iamPages).

func init() {
	groups["iam"] = iamUsage
	register(
		&command{name: "iam create-user", op: "CreateUser", usage: createUserUsage, run: iamCreateUser,
			flags: []flagSpec{{"user-name", kindString, true}, {"path", kindString, false}}},
		&command{name: "iam get-user", op: "GetUser", usage: getUserUsage, run: iamGetUser,
			flags: []flagSpec{{"user-name", kindString, true}}},
		&command{name: "iam list-users", op: "ListUsers", usage: listUsersUsage, run: iamListUsers,
			flags: []flagSpec{{"path-prefix", kindString, false}}},
		&command{name: "iam delete-user", op: "DeleteUser", usage: deleteUserUsage, run: iamDeleteUser,
			flags: []flagSpec{{"user-name", kindString, true}}},
		&command{name: "iam create-access-key", op: "CreateAccessKey", usage: createAccessKeyUsage, run: iamCreateAccessKey,
			flags: []flagSpec{{"user-name", kindString, true}}},
		&command{name: "iam list-access-keys", op: "ListAccessKeys", usage: listAccessKeysUsage, run: iamListAccessKeys,
			flags: []flagSpec{{"user-name", kindString, true}}},
		&command{name: "iam update-access-key", op: "UpdateAccessKey", usage: updateAccessKeyUsage, run: iamUpdateAccessKey,
			flags: []flagSpec{{"access-key-id", kindString, true}, {"status", kindString, true}, {"user-name", kindString, false}}},
		&command{name: "iam delete-access-key", op: "DeleteAccessKey", usage: deleteAccessKeyUsage, run: iamDeleteAccessKey,
			flags: []flagSpec{{"access-key-id", kindString, true}, {"user-name", kindString, false}}},
		&command{name: "iam create-group", op: "CreateGroup", usage: createGroupUsage, run: iamCreateGroup,
			flags: []flagSpec{{"group-name", kindString, true}, {"path", kindString, false}}},
		&command{name: "iam get-group", op: "GetGroup", usage: getGroupUsage, run: iamGetGroup,
			flags: []flagSpec{{"group-name", kindString, true}}},
		&command{name: "iam list-groups", op: "ListGroups", usage: listGroupsUsage, run: iamListGroups,
			flags: []flagSpec{{"path-prefix", kindString, false}}},
		&command{name: "iam delete-group", op: "DeleteGroup", usage: deleteGroupUsage, run: iamDeleteGroup,
			flags: []flagSpec{{"group-name", kindString, true}}},
		&command{name: "iam add-user-to-group", op: "AddUserToGroup", usage: addUserToGroupUsage, run: iamAddUserToGroup,
			flags: []flagSpec{{"group-name", kindString, true}, {"user-name", kindString, true}}},
		&command{name: "iam remove-user-from-group", op: "RemoveUserFromGroup", usage: removeUserFromGroupUsage, run: iamRemoveUserFromGroup,
			flags: []flagSpec{{"group-name", kindString, true}, {"user-name", kindString, true}}},
		&command{name: "iam list-groups-for-user", op: "ListGroupsForUser", usage: listGroupsForUserUsage, run: iamListGroupsForUser,
			flags: []flagSpec{{"user-name", kindString, true}}},
		&command{name: "iam create-role", op: "CreateRole", usage: createRoleUsage, run: iamCreateRole,
			flags: []flagSpec{{"role-name", kindString, true}, {"assume-role-policy-document", kindString, true}, {"path", kindString, false}, {"description", kindString, false}, {"max-session-duration", kindInt, false}}},
		&command{name: "iam get-role", op: "GetRole", usage: getRoleUsage, run: iamGetRole,
			flags: []flagSpec{{"role-name", kindString, true}}},
		&command{name: "iam list-roles", op: "ListRoles", usage: listRolesUsage, run: iamListRoles,
			flags: []flagSpec{{"path-prefix", kindString, false}}},
		&command{name: "iam delete-role", op: "DeleteRole", usage: deleteRoleUsage, run: iamDeleteRole,
			flags: []flagSpec{{"role-name", kindString, true}}},
		&command{name: "iam update-assume-role-policy", op: "UpdateAssumeRolePolicy", usage: updateAssumeRolePolicyUsage, run: iamUpdateAssumeRolePolicy,
			flags: []flagSpec{{"role-name", kindString, true}, {"policy-document", kindString, true}}},
		&command{name: "iam put-user-policy", op: "PutUserPolicy", usage: putUserPolicyUsage, run: iamPutUserPolicy,
			flags: []flagSpec{{"user-name", kindString, true}, {"policy-name", kindString, true}, {"policy-document", kindString, true}}},
		&command{name: "iam get-user-policy", op: "GetUserPolicy", usage: getUserPolicyUsage, run: iamGetUserPolicy,
			flags: []flagSpec{{"user-name", kindString, true}, {"policy-name", kindString, true}}},
		&command{name: "iam delete-user-policy", op: "DeleteUserPolicy", usage: deleteUserPolicyUsage, run: iamDeleteUserPolicy,
			flags: []flagSpec{{"user-name", kindString, true}, {"policy-name", kindString, true}}},
		&command{name: "iam list-user-policies", op: "ListUserPolicies", usage: listUserPoliciesUsage, run: iamListUserPolicies,
			flags: []flagSpec{{"user-name", kindString, true}}},
		&command{name: "iam put-group-policy", op: "PutGroupPolicy", usage: putGroupPolicyUsage, run: iamPutGroupPolicy,
			flags: []flagSpec{{"group-name", kindString, true}, {"policy-name", kindString, true}, {"policy-document", kindString, true}}},
		&command{name: "iam get-group-policy", op: "GetGroupPolicy", usage: getGroupPolicyUsage, run: iamGetGroupPolicy,
			flags: []flagSpec{{"group-name", kindString, true}, {"policy-name", kindString, true}}},
		&command{name: "iam delete-group-policy", op: "DeleteGroupPolicy", usage: deleteGroupPolicyUsage, run: iamDeleteGroupPolicy,
			flags: []flagSpec{{"group-name", kindString, true}, {"policy-name", kindString, true}}},
		&command{name: "iam list-group-policies", op: "ListGroupPolicies", usage: listGroupPoliciesUsage, run: iamListGroupPolicies,
			flags: []flagSpec{{"group-name", kindString, true}}},
		&command{name: "iam put-role-policy", op: "PutRolePolicy", usage: putRolePolicyUsage, run: iamPutRolePolicy,
			flags: []flagSpec{{"role-name", kindString, true}, {"policy-name", kindString, true}, {"policy-document", kindString, true}}},
		&command{name: "iam get-role-policy", op: "GetRolePolicy", usage: getRolePolicyUsage, run: iamGetRolePolicy,
			flags: []flagSpec{{"role-name", kindString, true}, {"policy-name", kindString, true}}},
		&command{name: "iam delete-role-policy", op: "DeleteRolePolicy", usage: deleteRolePolicyUsage, run: iamDeleteRolePolicy,
			flags: []flagSpec{{"role-name", kindString, true}, {"policy-name", kindString, true}}},
		&command{name: "iam list-role-policies", op: "ListRolePolicies", usage: listRolePoliciesUsage, run: iamListRolePolicies,
			flags: []flagSpec{{"role-name", kindString, true}}},
		&command{name: "iam attach-user-policy", op: "AttachUserPolicy", usage: attachUserPolicyUsage, run: iamAttachUserPolicy,
			flags: []flagSpec{{"user-name", kindString, true}, {"policy-arn", kindString, true}}},
		&command{name: "iam detach-user-policy", op: "DetachUserPolicy", usage: detachUserPolicyUsage, run: iamDetachUserPolicy,
			flags: []flagSpec{{"user-name", kindString, true}, {"policy-arn", kindString, true}}},
		&command{name: "iam list-attached-user-policies", op: "ListAttachedUserPolicies", usage: listAttachedUserPoliciesUsage, run: iamListAttachedUserPolicies,
			flags: []flagSpec{{"user-name", kindString, true}, {"path-prefix", kindString, false}}},
		&command{name: "iam attach-group-policy", op: "AttachGroupPolicy", usage: attachGroupPolicyUsage, run: iamAttachGroupPolicy,
			flags: []flagSpec{{"group-name", kindString, true}, {"policy-arn", kindString, true}}},
		&command{name: "iam detach-group-policy", op: "DetachGroupPolicy", usage: detachGroupPolicyUsage, run: iamDetachGroupPolicy,
			flags: []flagSpec{{"group-name", kindString, true}, {"policy-arn", kindString, true}}},
		&command{name: "iam list-attached-group-policies", op: "ListAttachedGroupPolicies", usage: listAttachedGroupPoliciesUsage, run: iamListAttachedGroupPolicies,
			flags: []flagSpec{{"group-name", kindString, true}, {"path-prefix", kindString, false}}},
		&command{name: "iam attach-role-policy", op: "AttachRolePolicy", usage: attachRolePolicyUsage, run: iamAttachRolePolicy,
			flags: []flagSpec{{"role-name", kindString, true}, {"policy-arn", kindString, true}}},
		&command{name: "iam detach-role-policy", op: "DetachRolePolicy", usage: detachRolePolicyUsage, run: iamDetachRolePolicy,
			flags: []flagSpec{{"role-name", kindString, true}, {"policy-arn", kindString, true}}},
		&command{name: "iam list-attached-role-policies", op: "ListAttachedRolePolicies", usage: listAttachedRolePoliciesUsage, run: iamListAttachedRolePolicies,
			flags: []flagSpec{{"role-name", kindString, true}, {"path-prefix", kindString, false}}},
		&command{name: "iam list-policies", op: "ListPolicies", usage: listPoliciesUsage, run: iamListPolicies,
			flags: []flagSpec{{"scope", kindString, false}, {"only-attached", kindBool, false}, {"path-prefix", kindString, false}}},
	)
}

func iamCreateUser(ctx context.Context, c *call) (any, error) {
	return c.iam.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: c.args.strings["user-name"], Path: c.args.strings["path"]})
}

func iamGetUser(ctx context.Context, c *call) (any, error) {
	return c.iam.GetUser(ctx, &kmsv1.GetUserRequest{UserName: c.args.strings["user-name"]})
}

func iamListUsers(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListUsersRequest{PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListUsersResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListUsers(ctx, req)
	}, func(all, page *kmsv1.ListUsersResponse) int {
		all.Users = append(all.Users, page.Users...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.Users)
	}, func(r *kmsv1.ListUsersResponse) int { return len(r.Users) })
}

func iamDeleteUser(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteUser(ctx, &kmsv1.DeleteUserRequest{UserName: c.args.strings["user-name"]})
}

func iamCreateAccessKey(ctx context.Context, c *call) (any, error) {
	return c.iam.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: c.args.strings["user-name"]})
}

func iamListAccessKeys(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListAccessKeysRequest{UserName: c.args.strings["user-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListAccessKeysResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListAccessKeys(ctx, req)
	}, func(all, page *kmsv1.ListAccessKeysResponse) int {
		all.AccessKeyMetadata = append(all.AccessKeyMetadata, page.AccessKeyMetadata...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.AccessKeyMetadata)
	}, func(r *kmsv1.ListAccessKeysResponse) int { return len(r.AccessKeyMetadata) })
}

func iamUpdateAccessKey(ctx context.Context, c *call) (any, error) {
	return c.iam.UpdateAccessKey(ctx, &kmsv1.UpdateAccessKeyRequest{AccessKeyId: c.args.strings["access-key-id"], Status: c.args.strings["status"], UserName: c.args.strings["user-name"]})
}

func iamDeleteAccessKey(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteAccessKey(ctx, &kmsv1.DeleteAccessKeyRequest{AccessKeyId: c.args.strings["access-key-id"], UserName: c.args.strings["user-name"]})
}

func iamCreateGroup(ctx context.Context, c *call) (any, error) {
	return c.iam.CreateGroup(ctx, &kmsv1.CreateGroupRequest{GroupName: c.args.strings["group-name"], Path: c.args.strings["path"]})
}

func iamGetGroup(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.GetGroupRequest{GroupName: c.args.strings["group-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.GetGroupResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.GetGroup(ctx, req)
	}, func(all, page *kmsv1.GetGroupResponse) int {
		all.Users = append(all.Users, page.Users...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.Users)
	}, func(r *kmsv1.GetGroupResponse) int { return len(r.Users) })
}

func iamListGroups(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListGroupsRequest{PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListGroupsResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListGroups(ctx, req)
	}, func(all, page *kmsv1.ListGroupsResponse) int {
		all.Groups = append(all.Groups, page.Groups...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.Groups)
	}, func(r *kmsv1.ListGroupsResponse) int { return len(r.Groups) })
}

func iamDeleteGroup(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteGroup(ctx, &kmsv1.DeleteGroupRequest{GroupName: c.args.strings["group-name"]})
}

func iamAddUserToGroup(ctx context.Context, c *call) (any, error) {
	return c.iam.AddUserToGroup(ctx, &kmsv1.AddUserToGroupRequest{GroupName: c.args.strings["group-name"], UserName: c.args.strings["user-name"]})
}

func iamRemoveUserFromGroup(ctx context.Context, c *call) (any, error) {
	return c.iam.RemoveUserFromGroup(ctx, &kmsv1.RemoveUserFromGroupRequest{GroupName: c.args.strings["group-name"], UserName: c.args.strings["user-name"]})
}

func iamListGroupsForUser(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListGroupsForUserRequest{UserName: c.args.strings["user-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListGroupsForUserResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListGroupsForUser(ctx, req)
	}, func(all, page *kmsv1.ListGroupsForUserResponse) int {
		all.Groups = append(all.Groups, page.Groups...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.Groups)
	}, func(r *kmsv1.ListGroupsForUserResponse) int { return len(r.Groups) })
}

func iamCreateRole(ctx context.Context, c *call) (any, error) {
	assumeRolePolicyDocument, err := textFlag(c, "assume-role-policy-document")
	if err != nil {
		return nil, err
	}
	return c.iam.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: c.args.strings["role-name"], AssumeRolePolicyDocument: assumeRolePolicyDocument, Path: c.args.strings["path"], Description: c.args.strings["description"], MaxSessionDuration: c.args.ints["max-session-duration"]})
}

func iamGetRole(ctx context.Context, c *call) (any, error) {
	return c.iam.GetRole(ctx, &kmsv1.GetRoleRequest{RoleName: c.args.strings["role-name"]})
}

func iamListRoles(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListRolesRequest{PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListRolesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListRoles(ctx, req)
	}, func(all, page *kmsv1.ListRolesResponse) int {
		all.Roles = append(all.Roles, page.Roles...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.Roles)
	}, func(r *kmsv1.ListRolesResponse) int { return len(r.Roles) })
}

func iamDeleteRole(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteRole(ctx, &kmsv1.DeleteRoleRequest{RoleName: c.args.strings["role-name"]})
}

func iamUpdateAssumeRolePolicy(ctx context.Context, c *call) (any, error) {
	policyDocument, err := textFlag(c, "policy-document")
	if err != nil {
		return nil, err
	}
	return c.iam.UpdateAssumeRolePolicy(ctx, &kmsv1.UpdateAssumeRolePolicyRequest{RoleName: c.args.strings["role-name"], PolicyDocument: policyDocument})
}

func iamPutUserPolicy(ctx context.Context, c *call) (any, error) {
	policyDocument, err := textFlag(c, "policy-document")
	if err != nil {
		return nil, err
	}
	return c.iam.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: c.args.strings["user-name"], PolicyName: c.args.strings["policy-name"], PolicyDocument: policyDocument})
}

func iamGetUserPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.GetUserPolicy(ctx, &kmsv1.GetUserPolicyRequest{UserName: c.args.strings["user-name"], PolicyName: c.args.strings["policy-name"]})
}

func iamDeleteUserPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteUserPolicy(ctx, &kmsv1.DeleteUserPolicyRequest{UserName: c.args.strings["user-name"], PolicyName: c.args.strings["policy-name"]})
}

func iamListUserPolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListUserPoliciesRequest{UserName: c.args.strings["user-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListUserPoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListUserPolicies(ctx, req)
	}, func(all, page *kmsv1.ListUserPoliciesResponse) int {
		all.PolicyNames = append(all.PolicyNames, page.PolicyNames...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.PolicyNames)
	}, func(r *kmsv1.ListUserPoliciesResponse) int { return len(r.PolicyNames) })
}

func iamPutGroupPolicy(ctx context.Context, c *call) (any, error) {
	policyDocument, err := textFlag(c, "policy-document")
	if err != nil {
		return nil, err
	}
	return c.iam.PutGroupPolicy(ctx, &kmsv1.PutGroupPolicyRequest{GroupName: c.args.strings["group-name"], PolicyName: c.args.strings["policy-name"], PolicyDocument: policyDocument})
}

func iamGetGroupPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.GetGroupPolicy(ctx, &kmsv1.GetGroupPolicyRequest{GroupName: c.args.strings["group-name"], PolicyName: c.args.strings["policy-name"]})
}

func iamDeleteGroupPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteGroupPolicy(ctx, &kmsv1.DeleteGroupPolicyRequest{GroupName: c.args.strings["group-name"], PolicyName: c.args.strings["policy-name"]})
}

func iamListGroupPolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListGroupPoliciesRequest{GroupName: c.args.strings["group-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListGroupPoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListGroupPolicies(ctx, req)
	}, func(all, page *kmsv1.ListGroupPoliciesResponse) int {
		all.PolicyNames = append(all.PolicyNames, page.PolicyNames...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.PolicyNames)
	}, func(r *kmsv1.ListGroupPoliciesResponse) int { return len(r.PolicyNames) })
}

func iamPutRolePolicy(ctx context.Context, c *call) (any, error) {
	policyDocument, err := textFlag(c, "policy-document")
	if err != nil {
		return nil, err
	}
	return c.iam.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: c.args.strings["role-name"], PolicyName: c.args.strings["policy-name"], PolicyDocument: policyDocument})
}

func iamGetRolePolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.GetRolePolicy(ctx, &kmsv1.GetRolePolicyRequest{RoleName: c.args.strings["role-name"], PolicyName: c.args.strings["policy-name"]})
}

func iamDeleteRolePolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteRolePolicy(ctx, &kmsv1.DeleteRolePolicyRequest{RoleName: c.args.strings["role-name"], PolicyName: c.args.strings["policy-name"]})
}

func iamListRolePolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListRolePoliciesRequest{RoleName: c.args.strings["role-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListRolePoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListRolePolicies(ctx, req)
	}, func(all, page *kmsv1.ListRolePoliciesResponse) int {
		all.PolicyNames = append(all.PolicyNames, page.PolicyNames...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.PolicyNames)
	}, func(r *kmsv1.ListRolePoliciesResponse) int { return len(r.PolicyNames) })
}

func iamAttachUserPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.AttachUserPolicy(ctx, &kmsv1.AttachUserPolicyRequest{UserName: c.args.strings["user-name"], PolicyArn: c.args.strings["policy-arn"]})
}

func iamDetachUserPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.DetachUserPolicy(ctx, &kmsv1.DetachUserPolicyRequest{UserName: c.args.strings["user-name"], PolicyArn: c.args.strings["policy-arn"]})
}

func iamListAttachedUserPolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListAttachedUserPoliciesRequest{UserName: c.args.strings["user-name"], PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListAttachedUserPoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListAttachedUserPolicies(ctx, req)
	}, func(all, page *kmsv1.ListAttachedUserPoliciesResponse) int {
		all.AttachedPolicies = append(all.AttachedPolicies, page.AttachedPolicies...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.AttachedPolicies)
	}, func(r *kmsv1.ListAttachedUserPoliciesResponse) int { return len(r.AttachedPolicies) })
}

func iamAttachGroupPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.AttachGroupPolicy(ctx, &kmsv1.AttachGroupPolicyRequest{GroupName: c.args.strings["group-name"], PolicyArn: c.args.strings["policy-arn"]})
}

func iamDetachGroupPolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.DetachGroupPolicy(ctx, &kmsv1.DetachGroupPolicyRequest{GroupName: c.args.strings["group-name"], PolicyArn: c.args.strings["policy-arn"]})
}

func iamListAttachedGroupPolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListAttachedGroupPoliciesRequest{GroupName: c.args.strings["group-name"], PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListAttachedGroupPoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListAttachedGroupPolicies(ctx, req)
	}, func(all, page *kmsv1.ListAttachedGroupPoliciesResponse) int {
		all.AttachedPolicies = append(all.AttachedPolicies, page.AttachedPolicies...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.AttachedPolicies)
	}, func(r *kmsv1.ListAttachedGroupPoliciesResponse) int { return len(r.AttachedPolicies) })
}

func iamAttachRolePolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.AttachRolePolicy(ctx, &kmsv1.AttachRolePolicyRequest{RoleName: c.args.strings["role-name"], PolicyArn: c.args.strings["policy-arn"]})
}

func iamDetachRolePolicy(ctx context.Context, c *call) (any, error) {
	return c.iam.DetachRolePolicy(ctx, &kmsv1.DetachRolePolicyRequest{RoleName: c.args.strings["role-name"], PolicyArn: c.args.strings["policy-arn"]})
}

func iamListAttachedRolePolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListAttachedRolePoliciesRequest{RoleName: c.args.strings["role-name"], PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListAttachedRolePoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListAttachedRolePolicies(ctx, req)
	}, func(all, page *kmsv1.ListAttachedRolePoliciesResponse) int {
		all.AttachedPolicies = append(all.AttachedPolicies, page.AttachedPolicies...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.AttachedPolicies)
	}, func(r *kmsv1.ListAttachedRolePoliciesResponse) int { return len(r.AttachedPolicies) })
}

func iamListPolicies(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListPoliciesRequest{Scope: c.args.strings["scope"], OnlyAttached: c.args.bools["only-attached"], PathPrefix: c.args.strings["path-prefix"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListPoliciesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListPolicies(ctx, req)
	}, func(all, page *kmsv1.ListPoliciesResponse) int {
		all.Policies = append(all.Policies, page.Policies...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.Policies)
	}, func(r *kmsv1.ListPoliciesResponse) int { return len(r.Policies) })
}
