package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "put-key-policy", op: "PutKeyPolicy", usage: putKeyPolicyUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"policy-name", kindString, false}, {"policy", kindString, true},
				{"bypass-policy-lockout-safety-check", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				policy, err := textFlag(c, "policy")
				if err != nil {
					return nil, err
				}
				return c.client.PutKeyPolicy(ctx, &kmsv1.PutKeyPolicyRequest{KeyId: c.args.strings["key-id"],
					PolicyName: c.args.strings["policy-name"], Policy: policy,
					BypassPolicyLockoutSafetyCheck: c.args.bools["bypass-policy-lockout-safety-check"]})
			}},
		&command{name: "get-key-policy", op: "GetKeyPolicy", usage: getKeyPolicyUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"policy-name", kindString, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.GetKeyPolicy(ctx, &kmsv1.GetKeyPolicyRequest{KeyId: c.args.strings["key-id"], PolicyName: c.args.strings["policy-name"]})
			}},
		&command{name: "list-key-policies", op: "ListKeyPolicies", usage: listKeyPoliciesUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"limit", kindInt, false}, {"marker", kindString, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.ListKeyPolicies(ctx, &kmsv1.ListKeyPoliciesRequest{KeyId: c.args.strings["key-id"],
					Limit: c.args.ints["limit"], Marker: c.args.strings["marker"]})
			}},
	)
}

const putKeyPolicyUsage = `Usage: kmsctl put-key-policy --key-id KEY [--policy-name default] --policy JSON|file://PATH
       [--bypass-policy-lockout-safety-check]

Replaces a key's policy. A key has one policy, named default. kmsd refuses
a policy that would not let you change the policy again, unless
--bypass-policy-lockout-safety-check is given.

Example:
  kmsctl put-key-policy --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --policy-name default --policy file://policy.json
`

const getKeyPolicyUsage = `Usage: kmsctl get-key-policy --key-id KEY [--policy-name default]

Prints a key's policy as {"Policy": "...", "PolicyName": "default"};
--query Policy --output text prints the document alone.

Example:
  kmsctl get-key-policy --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --policy-name default --query Policy --output text
`

const listKeyPoliciesUsage = `Usage: kmsctl list-key-policies --key-id KEY

Lists the names of a key's policies: always ["default"].

Example:
  kmsctl list-key-policies --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`
