package iam

import (
	"fmt"
	"strings"
)

// DefaultKeyPolicy returns the key policy a key gets when CreateKey names
// none, as in AWS KMS: the account root may do everything with the key,
// which also lets the account's identity policies grant access to it.
func DefaultKeyPolicy(account string) string {
	return fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Id": "key-default-1",
  "Statement": [
    {
      "Sid": "Enable IAM User Permissions",
      "Effect": "Allow",
      "Principal": {"AWS": "arn:aws:iam::%s:root"},
      "Action": "kms:*",
      "Resource": "*"
    }
  ]
}`, account)
}

// ManagedPolicy is a predefined identity policy.
type ManagedPolicy struct {
	Name        string
	Description string
	Document    string
}

// ARN returns the policy's ARN, arn:aws:iam::aws:policy/NAME, by which
// AttachUserPolicy and its kind name it.
func (m ManagedPolicy) ARN() string { return "arn:aws:iam::aws:policy/" + m.Name }

// Policy returns the parsed policy, named by its ARN.
func (m ManagedPolicy) Policy() *Policy {
	p := MustParse(m.Document, IdentityPolicy)
	p.Name = m.ARN()
	return p
}

// The predefined identity policies for the three kinds of user.
var (
	// KeyAdministrator manages keys: their life cycle, aliases, rotation,
	// imported material, policies, grants and tags. It does not allow any
	// cryptographic use of a key. (Whoever may create grants or change a
	// key policy can give away use of the key, themselves included, as
	// in AWS: keep administrators few.)
	KeyAdministrator = ManagedPolicy{
		Name:        "KmsdKeyAdministrator",
		Description: "Manage keys (life cycle, aliases, rotation, import, policies, grants, tags); no cryptographic use.",
		Document: actionsPolicy("KeyAdministration", "kms:",
			"CreateKey", "DescribeKey", "ListKeys", "UpdateKeyDescription", "EnableKey", "DisableKey",
			"ScheduleKeyDeletion", "CancelKeyDeletion", "CreateAlias", "UpdateAlias", "DeleteAlias",
			"ListAliases", "EnableKeyRotation", "DisableKeyRotation", "GetKeyRotationStatus",
			"RotateKeyOnDemand", "ListKeyRotations", "GetParametersForImport", "ImportKeyMaterial",
			"DeleteImportedKeyMaterial", "PutKeyPolicy", "GetKeyPolicy", "ListKeyPolicies",
			"CreateGrant", "ListGrants", "ListRetirableGrants", "RetireGrant", "RevokeGrant",
			"TagResource", "UntagResource", "ListResourceTags"),
	}
	// KeyUser uses keys for cryptography and reads their description.
	KeyUser = ManagedPolicy{
		Name:        "KmsdKeyUser",
		Description: "Use keys: Encrypt, Decrypt, ReEncrypt*, GenerateDataKey*, DescribeKey.",
		Document: actionsPolicy("KeyUse", "kms:",
			"Encrypt", "Decrypt", "ReEncrypt*", "GenerateDataKey*", "DescribeKey"),
	}
	// Auditor reads key metadata, policies, grants and tags and the audit
	// log; it can neither use nor change keys.
	Auditor = ManagedPolicy{
		Name:        "KmsdAuditor",
		Description: "Read key metadata and the audit log; no use or change of keys.",
		Document: actionsPolicy("ReadOnly", "",
			"kms:DescribeKey", "kms:ListKeys", "kms:ListAliases", "kms:GetKeyPolicy",
			"kms:ListKeyPolicies", "kms:GetKeyRotationStatus", "kms:ListKeyRotations",
			"kms:ListGrants", "kms:ListRetirableGrants", "kms:ListResourceTags",
			"kmsd:LookupEvents", "kmsd:GetEvents", "kmsd:TailEvents", "kmsd:GetSignedTreeHeads",
			"kmsd:GetInclusionProof", "kmsd:GetConsistencyProof", "kmsd:GetPublicKey"),
	}
)

// ManagedPolicies lists the predefined identity policies.
func ManagedPolicies() []ManagedPolicy {
	return []ManagedPolicy{KeyAdministrator, KeyUser, Auditor}
}

// LookupManagedPolicy finds a predefined policy by name or ARN.
func LookupManagedPolicy(nameOrARN string) (ManagedPolicy, bool) {
	for _, m := range ManagedPolicies() {
		if nameOrARN == m.Name || nameOrARN == m.ARN() {
			return m, true
		}
	}
	return ManagedPolicy{}, false
}

func actionsPolicy(sid, prefix string, names ...string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", prefix+n)
	}
	return fmt.Sprintf(`{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": %q,
      "Effect": "Allow",
      "Action": [
        %s
      ],
      "Resource": "*"
    }
  ]
}`, sid, strings.Join(quoted, ",\n        "))
}
