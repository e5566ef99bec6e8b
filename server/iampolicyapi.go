package server

import (
	"context"
	"strings"

	"github.com/kmsd/kmsd/iam"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The policy operations of IdentityManagementService, one per kind of
// entity, on the shared code of iampolicies.go.

// PutUserPolicy adds or replaces an inline policy of a user.
func (is *iamService) PutUserPolicy(ctx context.Context, req *kmsv1.PutUserPolicyRequest) (*kmsv1.PutUserPolicyResponse, error) {
	if err := is.putPolicy(ctx, policyTarget{"user", req.GetUserName()}, req.GetPolicyName(), req.GetPolicyDocument()); err != nil {
		return nil, err
	}
	return &kmsv1.PutUserPolicyResponse{}, nil
}

// GetUserPolicy returns an inline policy of a user.
func (is *iamService) GetUserPolicy(ctx context.Context, req *kmsv1.GetUserPolicyRequest) (*kmsv1.GetUserPolicyResponse, error) {
	t := policyTarget{"user", req.GetUserName()}
	name, doc, err := is.getPolicy(ctx, t, req.GetPolicyName())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetUserPolicyResponse{UserName: is.storedName(t), PolicyName: name, PolicyDocument: doc}, nil
}

// DeleteUserPolicy deletes an inline policy of a user.
func (is *iamService) DeleteUserPolicy(ctx context.Context, req *kmsv1.DeleteUserPolicyRequest) (*kmsv1.DeleteUserPolicyResponse, error) {
	if err := is.deletePolicy(ctx, policyTarget{"user", req.GetUserName()}, req.GetPolicyName()); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteUserPolicyResponse{}, nil
}

// ListUserPolicies lists the names of a user's inline policies.
func (is *iamService) ListUserPolicies(ctx context.Context, req *kmsv1.ListUserPoliciesRequest) (*kmsv1.ListUserPoliciesResponse, error) {
	names, next, err := is.listPolicies(ctx, policyTarget{"user", req.GetUserName()}, req.GetMaxItems(), req.GetMarker())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListUserPoliciesResponse{PolicyNames: names, IsTruncated: next != "", Marker: next}, nil
}

// AttachUserPolicy attaches a managed policy to a user.
func (is *iamService) AttachUserPolicy(ctx context.Context, req *kmsv1.AttachUserPolicyRequest) (*kmsv1.AttachUserPolicyResponse, error) {
	if err := is.attach(ctx, policyTarget{"user", req.GetUserName()}, "Attach", req.GetPolicyArn()); err != nil {
		return nil, err
	}
	return &kmsv1.AttachUserPolicyResponse{}, nil
}

// DetachUserPolicy detaches a managed policy from a user.
func (is *iamService) DetachUserPolicy(ctx context.Context, req *kmsv1.DetachUserPolicyRequest) (*kmsv1.DetachUserPolicyResponse, error) {
	if err := is.attach(ctx, policyTarget{"user", req.GetUserName()}, "Detach", req.GetPolicyArn()); err != nil {
		return nil, err
	}
	return &kmsv1.DetachUserPolicyResponse{}, nil
}

// ListAttachedUserPolicies lists the managed policies attached to a user.
func (is *iamService) ListAttachedUserPolicies(ctx context.Context, req *kmsv1.ListAttachedUserPoliciesRequest) (*kmsv1.ListAttachedUserPoliciesResponse, error) {
	mps, next, err := is.attached(ctx, policyTarget{"user", req.GetUserName()}, req.GetPathPrefix(), req.GetMaxItems(), req.GetMarker())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListAttachedUserPoliciesResponse{AttachedPolicies: attachedProtos(mps), IsTruncated: next != "", Marker: next}, nil
}

// PutGroupPolicy adds or replaces an inline policy of a group.
func (is *iamService) PutGroupPolicy(ctx context.Context, req *kmsv1.PutGroupPolicyRequest) (*kmsv1.PutGroupPolicyResponse, error) {
	if err := is.putPolicy(ctx, policyTarget{"group", req.GetGroupName()}, req.GetPolicyName(), req.GetPolicyDocument()); err != nil {
		return nil, err
	}
	return &kmsv1.PutGroupPolicyResponse{}, nil
}

// GetGroupPolicy returns an inline policy of a group.
func (is *iamService) GetGroupPolicy(ctx context.Context, req *kmsv1.GetGroupPolicyRequest) (*kmsv1.GetGroupPolicyResponse, error) {
	t := policyTarget{"group", req.GetGroupName()}
	name, doc, err := is.getPolicy(ctx, t, req.GetPolicyName())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetGroupPolicyResponse{GroupName: is.storedName(t), PolicyName: name, PolicyDocument: doc}, nil
}

// DeleteGroupPolicy deletes an inline policy of a group.
func (is *iamService) DeleteGroupPolicy(ctx context.Context, req *kmsv1.DeleteGroupPolicyRequest) (*kmsv1.DeleteGroupPolicyResponse, error) {
	if err := is.deletePolicy(ctx, policyTarget{"group", req.GetGroupName()}, req.GetPolicyName()); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteGroupPolicyResponse{}, nil
}

// ListGroupPolicies lists the names of a group's inline policies.
func (is *iamService) ListGroupPolicies(ctx context.Context, req *kmsv1.ListGroupPoliciesRequest) (*kmsv1.ListGroupPoliciesResponse, error) {
	names, next, err := is.listPolicies(ctx, policyTarget{"group", req.GetGroupName()}, req.GetMaxItems(), req.GetMarker())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListGroupPoliciesResponse{PolicyNames: names, IsTruncated: next != "", Marker: next}, nil
}

// AttachGroupPolicy attaches a managed policy to a group.
func (is *iamService) AttachGroupPolicy(ctx context.Context, req *kmsv1.AttachGroupPolicyRequest) (*kmsv1.AttachGroupPolicyResponse, error) {
	if err := is.attach(ctx, policyTarget{"group", req.GetGroupName()}, "Attach", req.GetPolicyArn()); err != nil {
		return nil, err
	}
	return &kmsv1.AttachGroupPolicyResponse{}, nil
}

// DetachGroupPolicy detaches a managed policy from a group.
func (is *iamService) DetachGroupPolicy(ctx context.Context, req *kmsv1.DetachGroupPolicyRequest) (*kmsv1.DetachGroupPolicyResponse, error) {
	if err := is.attach(ctx, policyTarget{"group", req.GetGroupName()}, "Detach", req.GetPolicyArn()); err != nil {
		return nil, err
	}
	return &kmsv1.DetachGroupPolicyResponse{}, nil
}

// ListAttachedGroupPolicies lists the managed policies attached to a group.
func (is *iamService) ListAttachedGroupPolicies(ctx context.Context, req *kmsv1.ListAttachedGroupPoliciesRequest) (*kmsv1.ListAttachedGroupPoliciesResponse, error) {
	mps, next, err := is.attached(ctx, policyTarget{"group", req.GetGroupName()}, req.GetPathPrefix(), req.GetMaxItems(), req.GetMarker())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListAttachedGroupPoliciesResponse{AttachedPolicies: attachedProtos(mps), IsTruncated: next != "", Marker: next}, nil
}

// PutRolePolicy adds or replaces an inline policy of a role.
func (is *iamService) PutRolePolicy(ctx context.Context, req *kmsv1.PutRolePolicyRequest) (*kmsv1.PutRolePolicyResponse, error) {
	if err := is.putPolicy(ctx, policyTarget{"role", req.GetRoleName()}, req.GetPolicyName(), req.GetPolicyDocument()); err != nil {
		return nil, err
	}
	return &kmsv1.PutRolePolicyResponse{}, nil
}

// GetRolePolicy returns an inline policy of a role.
func (is *iamService) GetRolePolicy(ctx context.Context, req *kmsv1.GetRolePolicyRequest) (*kmsv1.GetRolePolicyResponse, error) {
	t := policyTarget{"role", req.GetRoleName()}
	name, doc, err := is.getPolicy(ctx, t, req.GetPolicyName())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetRolePolicyResponse{RoleName: is.storedName(t), PolicyName: name, PolicyDocument: doc}, nil
}

// DeleteRolePolicy deletes an inline policy of a role.
func (is *iamService) DeleteRolePolicy(ctx context.Context, req *kmsv1.DeleteRolePolicyRequest) (*kmsv1.DeleteRolePolicyResponse, error) {
	if err := is.deletePolicy(ctx, policyTarget{"role", req.GetRoleName()}, req.GetPolicyName()); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteRolePolicyResponse{}, nil
}

// ListRolePolicies lists the names of a role's inline policies.
func (is *iamService) ListRolePolicies(ctx context.Context, req *kmsv1.ListRolePoliciesRequest) (*kmsv1.ListRolePoliciesResponse, error) {
	names, next, err := is.listPolicies(ctx, policyTarget{"role", req.GetRoleName()}, req.GetMaxItems(), req.GetMarker())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListRolePoliciesResponse{PolicyNames: names, IsTruncated: next != "", Marker: next}, nil
}

// AttachRolePolicy attaches a managed policy to a role.
func (is *iamService) AttachRolePolicy(ctx context.Context, req *kmsv1.AttachRolePolicyRequest) (*kmsv1.AttachRolePolicyResponse, error) {
	if err := is.attach(ctx, policyTarget{"role", req.GetRoleName()}, "Attach", req.GetPolicyArn()); err != nil {
		return nil, err
	}
	return &kmsv1.AttachRolePolicyResponse{}, nil
}

// DetachRolePolicy detaches a managed policy from a role.
func (is *iamService) DetachRolePolicy(ctx context.Context, req *kmsv1.DetachRolePolicyRequest) (*kmsv1.DetachRolePolicyResponse, error) {
	if err := is.attach(ctx, policyTarget{"role", req.GetRoleName()}, "Detach", req.GetPolicyArn()); err != nil {
		return nil, err
	}
	return &kmsv1.DetachRolePolicyResponse{}, nil
}

// ListAttachedRolePolicies lists the managed policies attached to a role.
func (is *iamService) ListAttachedRolePolicies(ctx context.Context, req *kmsv1.ListAttachedRolePoliciesRequest) (*kmsv1.ListAttachedRolePoliciesResponse, error) {
	mps, next, err := is.attached(ctx, policyTarget{"role", req.GetRoleName()}, req.GetPathPrefix(), req.GetMaxItems(), req.GetMarker())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ListAttachedRolePoliciesResponse{AttachedPolicies: attachedProtos(mps), IsTruncated: next != "", Marker: next}, nil
}

func attachedProtos(mps []iam.ManagedPolicy) []*kmsv1.AttachedPolicy {
	out := make([]*kmsv1.AttachedPolicy, 0, len(mps))
	for _, mp := range mps {
		out = append(out, &kmsv1.AttachedPolicy{PolicyName: mp.Name, PolicyArn: mp.ARN()})
	}
	return out
}

// storedName returns the target's name as it was created.
func (is *iamService) storedName(t policyTarget) string {
	switch t.kind {
	case "user":
		u, _ := is.ids.User(t.name)
		return u.UserName
	case "group":
		g, _ := is.ids.Group(t.name)
		return g.GroupName
	}
	r, _ := is.ids.Role(t.name)
	return r.RoleName
}

// ListPolicies lists the predefined managed policies (Scope All or AWS;
// Local has none), with how many entities each is attached to.
func (is *iamService) ListPolicies(ctx context.Context, req *kmsv1.ListPoliciesRequest) (*kmsv1.ListPoliciesResponse, error) {
	switch req.GetScope() {
	case "", "All", "AWS", "Local":
	default:
		return nil, constraintError("scope", req.GetScope(), "must satisfy enum value set: [All, AWS, Local]")
	}
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
	byARN := map[string]*kmsv1.Policy{}
	var arns []string
	for _, mp := range iam.ManagedPolicies() {
		n := is.ids.EntitiesForPolicy(mp.ARN())
		if req.GetScope() == "Local" || !strings.HasPrefix("/", prefix) || req.GetOnlyAttached() && n == 0 {
			continue
		}
		byARN[mp.ARN()] = &kmsv1.Policy{PolicyName: mp.Name, PolicyId: managedPolicyID(mp), Arn: mp.ARN(), Path: "/",
			DefaultVersionId: "v1", AttachmentCount: int32(n), IsAttachable: true, Description: mp.Description,
			PolicyDocument: mp.Document}
		arns = append(arns, mp.ARN())
	}
	page, next, err := pageNames(sortedStrings(arns), limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListPoliciesResponse{IsTruncated: next != "", Marker: next}
	for _, arn := range page {
		resp.Policies = append(resp.Policies, byARN[arn])
	}
	return resp, nil
}
