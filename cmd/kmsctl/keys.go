package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "create-key", op: "CreateKey", usage: createKeyUsage,
			flags: []flagSpec{{"description", kindString, false}, {"key-usage", kindString, false},
				{"key-spec", kindString, false}, {"origin", kindString, false}, {"tags", kindTags, false},
				{"policy", kindString, false}, {"bypass-policy-lockout-safety-check", kindBool, false},
				{"multi-region", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				policy, err := textFlag(c, "policy")
				if err != nil {
					return nil, err
				}
				return c.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: a.strings["description"],
					KeyUsage: a.strings["key-usage"], KeySpec: a.strings["key-spec"], Origin: a.strings["origin"],
					Tags: a.tags["tags"], Policy: policy, MultiRegion: a.bools["multi-region"],
					BypassPolicyLockoutSafetyCheck: a.bools["bypass-policy-lockout-safety-check"]})
			}},
		&command{name: "describe-key", op: "DescribeKey", usage: describeKeyUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"grant-tokens", kindList, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: c.args.strings["key-id"], GrantTokens: c.args.lists["grant-tokens"]})
			}},
		&command{name: "list-keys", op: "ListKeys", usage: listKeysUsage,
			flags: []flagSpec{{"limit", kindInt, false}, {"marker", kindString, false}},
			run:   listKeys},
		&command{name: "update-key-description", op: "UpdateKeyDescription", usage: updateKeyDescriptionUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"description", kindString, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.UpdateKeyDescription(ctx, &kmsv1.UpdateKeyDescriptionRequest{KeyId: c.args.strings["key-id"], Description: c.args.strings["description"]})
			}},
		&command{name: "enable-key", op: "EnableKey", usage: enableKeyUsage, flags: keyIDFlag,
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: c.args.strings["key-id"]})
			}},
		&command{name: "disable-key", op: "DisableKey", usage: disableKeyUsage, flags: keyIDFlag,
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: c.args.strings["key-id"]})
			}},
		&command{name: "schedule-key-deletion", op: "ScheduleKeyDeletion", usage: scheduleKeyDeletionUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"pending-window-in-days", kindInt, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: c.args.strings["key-id"],
					PendingWindowInDays: c.args.ints["pending-window-in-days"]})
			}},
		&command{name: "cancel-key-deletion", op: "CancelKeyDeletion", usage: cancelKeyDeletionUsage, flags: keyIDFlag,
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.CancelKeyDeletion(ctx, &kmsv1.CancelKeyDeletionRequest{KeyId: c.args.strings["key-id"]})
			}},
	)
}

var keyIDFlag = []flagSpec{{"key-id", kindString, true}}

// listKeys lists keys (see pages.go).
func listKeys(ctx context.Context, c *call) (any, error) {
	all := &kmsv1.ListKeysResponse{}
	req := &kmsv1.ListKeysRequest{Marker: c.firstMarker()}
	for {
		req.Limit = c.pageLimit(len(all.Keys))
		resp, err := c.client.ListKeys(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Keys = append(all.Keys, resp.GetKeys()...)
		all.NextMarker, all.Truncated = resp.GetNextMarker(), resp.GetTruncated()
		if !c.morePages(len(all.Keys), resp.GetTruncated()) {
			return all, nil
		}
		req.Marker = resp.GetNextMarker()
	}
}

const createKeyUsage = `Usage: kmsctl create-key [--description TEXT] [--key-usage ENCRYPT_DECRYPT]
       [--key-spec SYMMETRIC_DEFAULT] [--origin AWS_KMS|EXTERNAL] [--tags TagKey=K,TagValue=V ...]
       [--policy JSON|file://PATH [--bypass-policy-lockout-safety-check]]

Creates a symmetric encryption key. EXTERNAL keys wait for imported material
(state PendingImport). Without --policy the key gets the default key policy,
which lets the account root, and so identity policies, decide.

Example:
  kmsctl create-key --description "payments" --tags TagKey=team,TagValue=pay
  KEY=$(kmsctl create-key --query KeyMetadata.KeyId --output text)
`

const describeKeyUsage = `Usage: kmsctl describe-key --key-id KEY

KEY is a key id, key ARN, alias name (alias/...) or alias ARN.

Example:
  kmsctl describe-key --key-id alias/payments
`

const listKeysUsage = `Usage: kmsctl list-keys [--limit N] [--marker M]

Lists every key (following pages), one page of N keys with --limit, or the
first N keys with --max-items N. --marker (or --starting-token) resumes at a
NextMarker.

Example:
  kmsctl list-keys --output text
`

const updateKeyDescriptionUsage = `Usage: kmsctl update-key-description --key-id KEY --description TEXT

Example:
  kmsctl update-key-description --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --description "card data"
`

const enableKeyUsage = `Usage: kmsctl enable-key --key-id KEY

Sets the key's state to Enabled. KEY is a key id or key ARN.

Example:
  kmsctl enable-key --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const disableKeyUsage = `Usage: kmsctl disable-key --key-id KEY

Sets the key's state to Disabled: it can no longer encrypt or decrypt until
enabled again. KEY is a key id or key ARN.

Example:
  kmsctl disable-key --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const scheduleKeyDeletionUsage = `Usage: kmsctl schedule-key-deletion --key-id KEY [--pending-window-in-days 7-30]

Schedules the key and its material for deletion after the waiting period
(default 30 days). Until then cancel-key-deletion undoes it. After it, every
ciphertext made under the key is unrecoverable.

Example:
  kmsctl schedule-key-deletion --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --pending-window-in-days 7
`

const cancelKeyDeletionUsage = `Usage: kmsctl cancel-key-deletion --key-id KEY

Cancels a scheduled deletion; the key becomes Disabled.

Example:
  kmsctl cancel-key-deletion --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`
