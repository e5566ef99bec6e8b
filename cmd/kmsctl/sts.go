package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The sts commands get temporary credentials (SecurityTokenService),
// named and flagged like "aws sts".

func init() {
	groups["sts"] = stsUsage
	register(
		&command{name: "sts assume-role", op: "AssumeRole", usage: assumeRoleUsage, run: stsAssumeRole,
			flags: []flagSpec{{"role-arn", kindString, true}, {"role-session-name", kindString, true},
				{"duration-seconds", kindInt, false}, {"policy", kindString, false},
				{"serial-number", kindString, false}, {"token-code", kindString, false}}},
		&command{name: "sts get-caller-identity", op: "GetCallerIdentity", usage: getCallerIdentityUsage, run: stsGetCallerIdentity},
	)
}

const stsUsage = `Usage: kmsctl sts COMMAND [flags]

Temporary credentials, as "aws sts".

Commands:
  assume-role            credentials that act as a role for a while
  get-caller-identity    who the credentials in use are
  get-session-token      credentials of the calling user, with MFA if asked

Run "kmsctl help sts COMMAND" for a command's flags and an example.
`

const assumeRoleUsage = `Usage: kmsctl sts assume-role --role-arn ARN --role-session-name NAME [--duration-seconds N] [--policy JSON|file://PATH]
                               [--serial-number ARN --token-code CODE]

Returns temporary credentials (AccessKeyId, SecretAccessKey, SessionToken,
Expiration) that act as the role, if its trust policy lets the caller
assume it. --duration-seconds is 900 to the role's MaxSessionDuration
(default 3600); --policy is a session policy that narrows what the session
may do; --serial-number and --token-code (the caller's MFA device and a
code from it) make the session MFA-authenticated, which a trust policy can
require. Use the credentials with KMS_ACCESS_KEY_ID, KMS_SECRET_ACCESS_KEY
and KMS_SESSION_TOKEN.

Example:
  kmsctl sts assume-role --role-arn arn:aws:iam::111122223333:role/batch --role-session-name nightly
`

const getCallerIdentityUsage = `Usage: kmsctl sts get-caller-identity

Prints the UserId, Account and Arn of the credentials the call was signed
with. It needs no permission.

Example:
  kmsctl sts get-caller-identity --query Arn --output text
`

func stsAssumeRole(ctx context.Context, c *call) (any, error) {
	policy, err := textFlag(c, "policy")
	if err != nil {
		return nil, err
	}
	return c.sts.AssumeRole(ctx, &kmsv1.AssumeRoleRequest{RoleArn: c.args.strings["role-arn"],
		RoleSessionName: c.args.strings["role-session-name"], DurationSeconds: int32(c.args.ints["duration-seconds"]), Policy: policy,
		SerialNumber: c.args.strings["serial-number"], TokenCode: c.args.strings["token-code"]})
}

func stsGetCallerIdentity(ctx context.Context, c *call) (any, error) {
	return c.sts.GetCallerIdentity(ctx, &kmsv1.GetCallerIdentityRequest{})
}
