package keystore

import (
	"strings"
	"time"
)

// Identities. The store also holds the account's IAM identities: users,
// groups (with their members), roles, the identity policies attached to
// each (inline documents by name, and the ARNs of attached managed
// policies), and users' access keys. They change through Apply like keys
// do, with the ops below, and every id, date and wrapped secret comes in
// the mutation, chosen by the proposer.
//
// Names of users, groups and roles are unique regardless of case, as in
// AWS IAM: "Alice" and "alice" cannot both exist, and every lookup by name
// ignores case. Records keep the case they were created with. An access
// key's secret is stored only wrapped under the root key (by the
// proposer); the store never sees it in the clear.
//
// Records live under "iam/user/<name in lower case>", "iam/group/…",
// "iam/role/…" and "iam/key/<access key id>".
const (
	prefixIAMUser  = "iam/user/"
	prefixIAMGroup = "iam/group/"
	prefixIAMRole  = "iam/role/"
	prefixIAMKey   = "iam/key/"
)

// Identity mutations. Each carries its arguments in Mutation.IAM.
const (
	OpCreateUser      Op = "CreateUser"      // User
	OpDeleteUser      Op = "DeleteUser"      // UserName
	OpCreateAccessKey Op = "CreateAccessKey" // AccessKey
	OpUpdateAccessKey Op = "UpdateAccessKey" // AccessKeyID, UserName (optional), Status
	OpDeleteAccessKey Op = "DeleteAccessKey" // AccessKeyID, UserName (optional)

	OpCreateGroup         Op = "CreateGroup"         // Group
	OpDeleteGroup         Op = "DeleteGroup"         // GroupName
	OpAddUserToGroup      Op = "AddUserToGroup"      // GroupName, UserName
	OpRemoveUserFromGroup Op = "RemoveUserFromGroup" // GroupName, UserName

	OpCreateRole             Op = "CreateRole"             // Role
	OpDeleteRole             Op = "DeleteRole"             // RoleName
	OpUpdateAssumeRolePolicy Op = "UpdateAssumeRolePolicy" // RoleName, PolicyDocument

	OpPutUserPolicy     Op = "PutUserPolicy"     // UserName, PolicyName, PolicyDocument
	OpDeleteUserPolicy  Op = "DeleteUserPolicy"  // UserName, PolicyName
	OpPutGroupPolicy    Op = "PutGroupPolicy"    // GroupName, PolicyName, PolicyDocument
	OpDeleteGroupPolicy Op = "DeleteGroupPolicy" // GroupName, PolicyName
	OpPutRolePolicy     Op = "PutRolePolicy"     // RoleName, PolicyName, PolicyDocument
	OpDeleteRolePolicy  Op = "DeleteRolePolicy"  // RoleName, PolicyName

	OpAttachUserPolicy  Op = "AttachUserPolicy"  // UserName, PolicyARN
	OpDetachUserPolicy  Op = "DetachUserPolicy"  // UserName, PolicyARN
	OpAttachGroupPolicy Op = "AttachGroupPolicy" // GroupName, PolicyARN
	OpDetachGroupPolicy Op = "DetachGroupPolicy" // GroupName, PolicyARN
	OpAttachRolePolicy  Op = "AttachRolePolicy"  // RoleName, PolicyARN
	OpDetachRolePolicy  Op = "DetachRolePolicy"  // RoleName, PolicyARN
)

// Limits of identities, AWS IAM's default quotas. Apply refuses a
// mutation that would exceed one with ErrLimitExceeded.
const (
	MaxUsers             = 5000
	MaxGroups            = 300
	MaxRoles             = 1000
	MaxAccessKeysPerUser = 2
	MaxGroupsPerUser     = 10
	MaxAttachedPolicies  = 10 // managed policies per user, group or role
	// The total size of an entity's inline policy documents, white space
	// not counted.
	MaxUserInlinePolicies  = 2048
	MaxGroupInlinePolicies = 5120
	MaxRoleInlinePolicies  = 10240
)

// Access key states, spelled as AWS IAM.
const (
	AccessKeyActive   = "Active"
	AccessKeyInactive = "Inactive"
)

// Policies are the identity policies of a user, group or role.
type Policies struct {
	// Inline maps an inline policy's name to its document.
	Inline map[string]string `json:"inline,omitempty"`
	// Attached lists the ARNs of attached managed policies, sorted.
	Attached []string `json:"attached,omitempty"`
}

func (p Policies) clone() Policies {
	out := Policies{Attached: append([]string(nil), p.Attached...)}
	if p.Inline != nil {
		out.Inline = make(map[string]string, len(p.Inline))
		for k, v := range p.Inline {
			out.Inline[k] = v
		}
	}
	return out
}

// User is an IAM user.
type User struct {
	UserName   string    `json:"userName"`
	UserID     string    `json:"userId"` // "AIDA…"
	Arn        string    `json:"arn"`
	Path       string    `json:"path"`
	CreateDate time.Time `json:"createDate"`
	Policies   Policies  `json:"policies"`
}

// Group is an IAM group and its members.
type Group struct {
	GroupName  string    `json:"groupName"`
	GroupID    string    `json:"groupId"` // "AGPA…"
	Arn        string    `json:"arn"`
	Path       string    `json:"path"`
	CreateDate time.Time `json:"createDate"`
	// Members holds the members' user names, sorted by their lower-case
	// form.
	Members  []string `json:"members,omitempty"`
	Policies Policies `json:"policies"`
}

// Role is an IAM role.
type Role struct {
	RoleName    string    `json:"roleName"`
	RoleID      string    `json:"roleId"` // "AROA…"
	Arn         string    `json:"arn"`
	Path        string    `json:"path"`
	Description string    `json:"description,omitempty"`
	CreateDate  time.Time `json:"createDate"`
	// AssumeRolePolicyDocument is the role's trust policy.
	AssumeRolePolicyDocument string   `json:"assumeRolePolicyDocument"`
	MaxSessionDuration       int32    `json:"maxSessionDuration"` // seconds
	Policies                 Policies `json:"policies"`
}

// AccessKey is a user's access key. The secret is held only wrapped under
// the root key, bound to the access key id.
type AccessKey struct {
	AccessKeyID   string    `json:"accessKeyId"` // "AKIA…"
	UserName      string    `json:"userName"`
	Status        string    `json:"status"`
	CreateDate    time.Time `json:"createDate"`
	WrappedSecret []byte    `json:"wrappedSecret"`
}

// IdentityMutation carries the arguments of an identity op.
type IdentityMutation struct {
	UserName       string     `json:"userName,omitempty"`
	GroupName      string     `json:"groupName,omitempty"`
	RoleName       string     `json:"roleName,omitempty"`
	User           *User      `json:"user,omitempty"`
	Group          *Group     `json:"group,omitempty"`
	Role           *Role      `json:"role,omitempty"`
	AccessKey      *AccessKey `json:"accessKey,omitempty"`
	AccessKeyID    string     `json:"accessKeyId,omitempty"`
	Status         string     `json:"status,omitempty"`
	PolicyName     string     `json:"policyName,omitempty"`
	PolicyDocument string     `json:"policyDocument,omitempty"`
	PolicyARN      string     `json:"policyArn,omitempty"`
	MFADevice      *MFADevice `json:"mfaDevice,omitempty"`
	SerialNumber   string     `json:"serialNumber,omitempty"`
	// Step is an accepted MFA code's TOTP time step.
	Step uint64 `json:"step,omitempty"`
}

// PolicyRef is one identity policy that applies to a user or role.
type PolicyRef struct {
	// From is the entity it is attached to: "user/NAME", "group/NAME" or
	// "role/NAME".
	From string
	// Name is an inline policy's name or a managed policy's ARN.
	Name string
	// Document is an inline policy's document; empty for a managed policy,
	// which the caller looks up by its ARN.
	Document string
	Managed  bool
}

// fold is the form of a name that decides uniqueness.
func fold(name string) string { return strings.ToLower(name) }

// inlineSize is the size AWS counts against the inline policy quotas: the
// documents' characters, white space not counted.
func inlineSize(docs map[string]string) int {
	n := 0
	for _, d := range docs {
		for _, r := range d {
			if r != ' ' && r != '\t' && r != '\n' && r != '\r' {
				n++
			}
		}
	}
	return n
}
