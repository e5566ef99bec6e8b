package main

// Usage of the iam commands (iamcommands.go).

const iamUsage = `Usage: kmsctl iam COMMAND [flags]

Manages identities, as "aws iam": users and their access keys, groups,
roles, the identity policies attached to them, and virtual MFA devices.

Commands:
  add-user-to-group
  attach-group-policy
  attach-role-policy
  attach-user-policy
  create-access-key
  create-group
  create-role
  create-user
  create-virtual-mfa-device
  deactivate-mfa-device
  delete-access-key
  delete-group
  delete-group-policy
  delete-role
  delete-role-policy
  delete-user
  delete-user-policy
  delete-virtual-mfa-device
  detach-group-policy
  detach-role-policy
  detach-user-policy
  enable-mfa-device
  get-group
  get-group-policy
  get-role
  get-role-policy
  get-user
  get-user-policy
  list-access-keys
  list-attached-group-policies
  list-attached-role-policies
  list-attached-user-policies
  list-group-policies
  list-groups
  list-groups-for-user
  list-mfa-devices
  list-policies
  list-role-policies
  list-roles
  list-user-policies
  list-users
  put-group-policy
  put-role-policy
  put-user-policy
  remove-user-from-group
  update-access-key
  update-assume-role-policy

Run "kmsctl help iam COMMAND" for a command's flags and an example.
`

const createUserUsage = `Usage: kmsctl iam create-user --user-name USER_NAME [--path PATH]

Creates a user. Names are letters, digits and +=,.@_- (at most 64),
unique regardless of case; PATH is "/" (the default) or "/a/b/".

Example:
  kmsctl iam create-user --user-name alice --path /engineering/
`

const getUserUsage = `Usage: kmsctl iam get-user --user-name USER_NAME

Describes a user.

Example:
  kmsctl iam get-user --user-name alice
`

const listUsersUsage = `Usage: kmsctl iam list-users [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists users, following every page unless --max-items is given.

Example:
  kmsctl iam list-users --path-prefix /engineering/
`

const deleteUserUsage = `Usage: kmsctl iam delete-user --user-name USER_NAME

Deletes a user. Its access keys, policies and group memberships must be
removed first (DeleteConflictException otherwise).

Example:
  kmsctl iam delete-user --user-name alice
`

const createAccessKeyUsage = `Usage: kmsctl iam create-access-key --user-name USER_NAME

Creates an access key for a user (at most two per user). The
SecretAccessKey is printed this once: kmsd keeps it only sealed.

Example:
  kmsctl iam create-access-key --user-name alice
`

const listAccessKeysUsage = `Usage: kmsctl iam list-access-keys --user-name USER_NAME [--max-items N] [--starting-token MARKER]

Lists a user's access keys, without their secrets.

Example:
  kmsctl iam list-access-keys --user-name alice
`

const updateAccessKeyUsage = `Usage: kmsctl iam update-access-key --access-key-id ACCESS_KEY_ID --status STATUS [--user-name USER_NAME]

Sets an access key's status: Active or Inactive (refused when signing).

Example:
  kmsctl iam update-access-key --access-key-id AKIAIOSFODNN7EXAMPLE --status Inactive --user-name alice
`

const deleteAccessKeyUsage = `Usage: kmsctl iam delete-access-key --access-key-id ACCESS_KEY_ID [--user-name USER_NAME]

Deletes an access key.

Example:
  kmsctl iam delete-access-key --access-key-id AKIAIOSFODNN7EXAMPLE --user-name alice
`

const createGroupUsage = `Usage: kmsctl iam create-group --group-name GROUP_NAME [--path PATH]

Creates a group; its members get its policies.

Example:
  kmsctl iam create-group --group-name developers
`

const getGroupUsage = `Usage: kmsctl iam get-group --group-name GROUP_NAME [--max-items N] [--starting-token MARKER]

Describes a group and lists its members.

Example:
  kmsctl iam get-group --group-name developers
`

const listGroupsUsage = `Usage: kmsctl iam list-groups [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists groups.

Example:
  kmsctl iam list-groups
`

const deleteGroupUsage = `Usage: kmsctl iam delete-group --group-name GROUP_NAME

Deletes a group with no members or policies left.

Example:
  kmsctl iam delete-group --group-name developers
`

const addUserToGroupUsage = `Usage: kmsctl iam add-user-to-group --group-name GROUP_NAME --user-name USER_NAME

Adds a user to a group (at most ten groups per user).

Example:
  kmsctl iam add-user-to-group --group-name developers --user-name alice
`

const removeUserFromGroupUsage = `Usage: kmsctl iam remove-user-from-group --group-name GROUP_NAME --user-name USER_NAME

Removes a user from a group.

Example:
  kmsctl iam remove-user-from-group --group-name developers --user-name alice
`

const listGroupsForUserUsage = `Usage: kmsctl iam list-groups-for-user --user-name USER_NAME [--max-items N] [--starting-token MARKER]

Lists the groups a user is in.

Example:
  kmsctl iam list-groups-for-user --user-name alice
`

const createRoleUsage = `Usage: kmsctl iam create-role --role-name ROLE_NAME --assume-role-policy-document ASSUME_ROLE_POLICY_DOCUMENT [--path PATH] [--description DESCRIPTION] [--max-session-duration MAX_SESSION_DURATION]

Creates a role. The trust policy (file://PATH or JSON) says who may
assume it; sessions last at most --max-session-duration seconds (3600 to
43200, default 3600).

Example:
  kmsctl iam create-role --role-name reader --assume-role-policy-document file://trust.json
`

const getRoleUsage = `Usage: kmsctl iam get-role --role-name ROLE_NAME

Describes a role, its trust policy included.

Example:
  kmsctl iam get-role --role-name reader
`

const listRolesUsage = `Usage: kmsctl iam list-roles [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists roles.

Example:
  kmsctl iam list-roles
`

const deleteRoleUsage = `Usage: kmsctl iam delete-role --role-name ROLE_NAME

Deletes a role with no policies left.

Example:
  kmsctl iam delete-role --role-name reader
`

const updateAssumeRolePolicyUsage = `Usage: kmsctl iam update-assume-role-policy --role-name ROLE_NAME --policy-document POLICY_DOCUMENT

Replaces a role's trust policy.

Example:
  kmsctl iam update-assume-role-policy --role-name reader --policy-document file://trust.json
`

const putUserPolicyUsage = `Usage: kmsctl iam put-user-policy --user-name USER_NAME --policy-name POLICY_NAME --policy-document POLICY_DOCUMENT

Adds or replaces an inline policy of a user. The document (file://PATH or
JSON) is checked when written: an error names the bad element.

Example:
  kmsctl iam put-user-policy --user-name alice --policy-name encrypt --policy-document file://policy.json
`

const getUserPolicyUsage = `Usage: kmsctl iam get-user-policy --user-name USER_NAME --policy-name POLICY_NAME

Prints an inline policy of a user.

Example:
  kmsctl iam get-user-policy --user-name alice --policy-name encrypt
`

const deleteUserPolicyUsage = `Usage: kmsctl iam delete-user-policy --user-name USER_NAME --policy-name POLICY_NAME

Deletes an inline policy of a user.

Example:
  kmsctl iam delete-user-policy --user-name alice --policy-name encrypt
`

const listUserPoliciesUsage = `Usage: kmsctl iam list-user-policies --user-name USER_NAME [--max-items N] [--starting-token MARKER]

Lists the names of a user's inline policies.

Example:
  kmsctl iam list-user-policies --user-name alice
`

const putGroupPolicyUsage = `Usage: kmsctl iam put-group-policy --group-name GROUP_NAME --policy-name POLICY_NAME --policy-document POLICY_DOCUMENT

Adds or replaces an inline policy of a group. The document (file://PATH or
JSON) is checked when written: an error names the bad element.

Example:
  kmsctl iam put-group-policy --group-name developers --policy-name encrypt --policy-document file://policy.json
`

const getGroupPolicyUsage = `Usage: kmsctl iam get-group-policy --group-name GROUP_NAME --policy-name POLICY_NAME

Prints an inline policy of a group.

Example:
  kmsctl iam get-group-policy --group-name developers --policy-name encrypt
`

const deleteGroupPolicyUsage = `Usage: kmsctl iam delete-group-policy --group-name GROUP_NAME --policy-name POLICY_NAME

Deletes an inline policy of a group.

Example:
  kmsctl iam delete-group-policy --group-name developers --policy-name encrypt
`

const listGroupPoliciesUsage = `Usage: kmsctl iam list-group-policies --group-name GROUP_NAME [--max-items N] [--starting-token MARKER]

Lists the names of a group's inline policies.

Example:
  kmsctl iam list-group-policies --group-name developers
`

const putRolePolicyUsage = `Usage: kmsctl iam put-role-policy --role-name ROLE_NAME --policy-name POLICY_NAME --policy-document POLICY_DOCUMENT

Adds or replaces an inline policy of a role. The document (file://PATH or
JSON) is checked when written: an error names the bad element.

Example:
  kmsctl iam put-role-policy --role-name reader --policy-name encrypt --policy-document file://policy.json
`

const getRolePolicyUsage = `Usage: kmsctl iam get-role-policy --role-name ROLE_NAME --policy-name POLICY_NAME

Prints an inline policy of a role.

Example:
  kmsctl iam get-role-policy --role-name reader --policy-name encrypt
`

const deleteRolePolicyUsage = `Usage: kmsctl iam delete-role-policy --role-name ROLE_NAME --policy-name POLICY_NAME

Deletes an inline policy of a role.

Example:
  kmsctl iam delete-role-policy --role-name reader --policy-name encrypt
`

const listRolePoliciesUsage = `Usage: kmsctl iam list-role-policies --role-name ROLE_NAME [--max-items N] [--starting-token MARKER]

Lists the names of a role's inline policies.

Example:
  kmsctl iam list-role-policies --role-name reader
`

const attachUserPolicyUsage = `Usage: kmsctl iam attach-user-policy --user-name USER_NAME --policy-arn POLICY_ARN

Attaches a predefined managed policy (see list-policies) to a user.

Example:
  kmsctl iam attach-user-policy --user-name alice --policy-arn arn:aws:iam::aws:policy/KmsdKeyUser
`

const detachUserPolicyUsage = `Usage: kmsctl iam detach-user-policy --user-name USER_NAME --policy-arn POLICY_ARN

Detaches a managed policy from a user.

Example:
  kmsctl iam detach-user-policy --user-name alice --policy-arn arn:aws:iam::aws:policy/KmsdKeyUser
`

const listAttachedUserPoliciesUsage = `Usage: kmsctl iam list-attached-user-policies --user-name USER_NAME [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists the managed policies attached to a user.

Example:
  kmsctl iam list-attached-user-policies --user-name alice
`

const attachGroupPolicyUsage = `Usage: kmsctl iam attach-group-policy --group-name GROUP_NAME --policy-arn POLICY_ARN

Attaches a predefined managed policy (see list-policies) to a group.

Example:
  kmsctl iam attach-group-policy --group-name developers --policy-arn arn:aws:iam::aws:policy/KmsdKeyUser
`

const detachGroupPolicyUsage = `Usage: kmsctl iam detach-group-policy --group-name GROUP_NAME --policy-arn POLICY_ARN

Detaches a managed policy from a group.

Example:
  kmsctl iam detach-group-policy --group-name developers --policy-arn arn:aws:iam::aws:policy/KmsdKeyUser
`

const listAttachedGroupPoliciesUsage = `Usage: kmsctl iam list-attached-group-policies --group-name GROUP_NAME [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists the managed policies attached to a group.

Example:
  kmsctl iam list-attached-group-policies --group-name developers
`

const attachRolePolicyUsage = `Usage: kmsctl iam attach-role-policy --role-name ROLE_NAME --policy-arn POLICY_ARN

Attaches a predefined managed policy (see list-policies) to a role.

Example:
  kmsctl iam attach-role-policy --role-name reader --policy-arn arn:aws:iam::aws:policy/KmsdKeyUser
`

const detachRolePolicyUsage = `Usage: kmsctl iam detach-role-policy --role-name ROLE_NAME --policy-arn POLICY_ARN

Detaches a managed policy from a role.

Example:
  kmsctl iam detach-role-policy --role-name reader --policy-arn arn:aws:iam::aws:policy/KmsdKeyUser
`

const listAttachedRolePoliciesUsage = `Usage: kmsctl iam list-attached-role-policies --role-name ROLE_NAME [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists the managed policies attached to a role.

Example:
  kmsctl iam list-attached-role-policies --role-name reader
`

const listPoliciesUsage = `Usage: kmsctl iam list-policies [--scope SCOPE] [--only-attached] [--path-prefix PATH_PREFIX] [--max-items N] [--starting-token MARKER]

Lists the predefined managed policies: key administrator, key user and
auditor. --scope All, AWS or Local (kmsd has no local ones).

Example:
  kmsctl iam list-policies --only-attached
`
