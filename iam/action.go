package iam

import (
	"fmt"
	"strings"
)

// The services whose actions policies may name. "kmsd" holds the actions
// of kmsd's own services: the audit log and the cluster.
var services = map[string][]string{
	"kms": {
		// Served by kmsd.
		"CancelKeyDeletion", "CreateAlias", "CreateGrant", "CreateKey", "Decrypt",
		"DeleteAlias", "DeleteImportedKeyMaterial", "DescribeKey", "DisableKey",
		"DisableKeyRotation", "EnableKey", "EnableKeyRotation", "Encrypt",
		"GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateRandom",
		"GetKeyPolicy", "GetKeyRotationStatus", "GetParametersForImport",
		"ImportKeyMaterial", "ListAliases", "ListGrants", "ListKeyPolicies",
		"ListKeyRotations", "ListKeys", "ListResourceTags", "ListRetirableGrants",
		"PutKeyPolicy", "ReEncryptFrom", "ReEncryptTo", "RetireGrant", "RevokeGrant",
		"RotateKeyOnDemand", "ScheduleKeyDeletion", "TagResource", "UntagResource",
		"UpdateAlias", "UpdateKeyDescription",
		// AWS KMS actions kmsd does not serve; policies written for AWS
		// may name them.
		"ConnectCustomKeyStore", "CreateCustomKeyStore", "DeleteCustomKeyStore",
		"DeriveSharedSecret", "DescribeCustomKeyStores", "DisconnectCustomKeyStore",
		"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateMac",
		"GetPublicKey", "ReplicateKey", "Sign", "SynchronizeMultiRegionKey",
		"UpdateCustomKeyStore", "UpdatePrimaryRegion", "Verify", "VerifyMac",
	},
	"iam": {
		"CreateUser", "DeleteUser", "GetUser", "ListUsers", "UpdateUser",
		"CreateAccessKey", "DeleteAccessKey", "UpdateAccessKey", "ListAccessKeys", "GetAccessKeyLastUsed",
		"CreateGroup", "DeleteGroup", "GetGroup", "ListGroups", "ListGroupsForUser",
		"AddUserToGroup", "RemoveUserFromGroup",
		"PutUserPolicy", "GetUserPolicy", "DeleteUserPolicy", "ListUserPolicies",
		"AttachUserPolicy", "DetachUserPolicy", "ListAttachedUserPolicies",
		"PutGroupPolicy", "GetGroupPolicy", "DeleteGroupPolicy", "ListGroupPolicies",
		"AttachGroupPolicy", "DetachGroupPolicy", "ListAttachedGroupPolicies",
		"CreateRole", "DeleteRole", "GetRole", "ListRoles", "UpdateAssumeRolePolicy",
		"PutRolePolicy", "GetRolePolicy", "DeleteRolePolicy", "ListRolePolicies",
		"AttachRolePolicy", "DetachRolePolicy", "ListAttachedRolePolicies",
		"CreatePolicy", "DeletePolicy", "GetPolicy", "ListPolicies", "GetPolicyVersion",
		"CreateVirtualMFADevice", "DeleteVirtualMFADevice", "EnableMFADevice",
		"DeactivateMFADevice", "ListMFADevices", "ListVirtualMFADevices", "ResyncMFADevice",
		"UploadSigningCertificate", "ListSigningCertificates", "DeleteSigningCertificate",
		"UpdateSigningCertificate",
	},
	"sts": {"AssumeRole", "GetCallerIdentity", "GetSessionToken", "TagSession", "SetSourceIdentity"},
	"kmsd": {
		"LookupEvents", "GetEvents", "TailEvents", "GetSignedTreeHeads", "SignTreeHead",
		"GetInclusionProof", "GetConsistencyProof", "GetPublicKey",
		"GetClusterStatus", "RemoveMember", "AddMember", "Backup", "Restore",
	},
}

// actions maps every known action, in lower case ("kms:encrypt"), to its
// canonical spelling ("kms:Encrypt").
var actions = func() map[string]string {
	m := make(map[string]string)
	for svc, names := range services {
		for _, n := range names {
			full := svc + ":" + n
			m[toLowerASCII(full)] = full
		}
	}
	return m
}()

// CanonicalAction returns the canonical spelling of a known action, given
// in any ASCII case ("KMS:encrypt" → "kms:Encrypt"), and whether it is
// known.
func CanonicalAction(action string) (string, bool) {
	c, ok := actions[toLowerASCII(action)]
	return c, ok
}

// Actions returns every action policies may name, in canonical spelling.
func Actions() []string {
	out := make([]string, 0, len(actions))
	for _, c := range actions {
		out = append(out, c)
	}
	return out
}

// compileAction checks one Action or NotAction value and returns its
// pattern. allowed lists the services the policy kind admits (nil: all).
// The error is a plain message; the caller adds the path.
func compileAction(v string, allowed []string) (pattern, error) {
	if v == "*" {
		return newPattern(v, true, true), nil
	}
	svc, name, ok := strings.Cut(v, ":")
	if !ok || svc == "" || name == "" {
		return pattern{}, fmt.Errorf("%q is not \"*\" or service:action", v)
	}
	lsvc := toLowerASCII(svc)
	if _, known := services[lsvc]; !known || !isToken(lsvc, false) {
		return pattern{}, fmt.Errorf("%q names unknown service %q (known: iam, kms, kmsd, sts)", v, svc)
	}
	if allowed != nil && !contains(allowed, lsvc) {
		return pattern{}, fmt.Errorf("%q: this kind of policy admits only %s actions", v, strings.Join(allowed, ", "))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '*' || c == '?') {
			return pattern{}, fmt.Errorf("%q: action names are letters and digits, with * and ? as wildcards", v)
		}
	}
	if !hasWildcard(name) {
		if _, known := actions[toLowerASCII(v)]; !known {
			return pattern{}, fmt.Errorf("%q is not a %s action", v, lsvc)
		}
	}
	return newPattern(v, true, true), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
