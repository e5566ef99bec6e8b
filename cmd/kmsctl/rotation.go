package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "enable-key-rotation", op: "EnableKeyRotation", usage: enableKeyRotationUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"rotation-period-in-days", kindInt, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: c.args.strings["key-id"],
					RotationPeriodInDays: c.args.ints["rotation-period-in-days"]})
			}},
		&command{name: "disable-key-rotation", op: "DisableKeyRotation", usage: disableKeyRotationUsage, flags: keyIDFlag,
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.DisableKeyRotation(ctx, &kmsv1.DisableKeyRotationRequest{KeyId: c.args.strings["key-id"]})
			}},
		&command{name: "get-key-rotation-status", op: "GetKeyRotationStatus", usage: getKeyRotationStatusUsage, flags: keyIDFlag,
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.GetKeyRotationStatus(ctx, &kmsv1.GetKeyRotationStatusRequest{KeyId: c.args.strings["key-id"]})
			}},
		&command{name: "rotate-key-on-demand", op: "RotateKeyOnDemand", usage: rotateKeyOnDemandUsage, flags: keyIDFlag,
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: c.args.strings["key-id"]})
			}},
		&command{name: "list-key-rotations", op: "ListKeyRotations", usage: listKeyRotationsUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"include-key-material", kindString, false},
				{"limit", kindInt, false}, {"marker", kindString, false}},
			run: listKeyRotations},
		&command{name: "list-key-versions", op: "DescribeKey", usage: listKeyVersionsUsage, flags: keyIDFlag,
			run: listKeyVersions},
	)
}

// listKeyRotations lists rotations (see pages.go).
func listKeyRotations(ctx context.Context, c *call) (any, error) {
	all := &kmsv1.ListKeyRotationsResponse{}
	req := &kmsv1.ListKeyRotationsRequest{KeyId: c.args.strings["key-id"], IncludeKeyMaterial: c.args.strings["include-key-material"],
		Marker: c.firstMarker()}
	for {
		req.Limit = c.pageLimit(len(all.Rotations))
		resp, err := c.client.ListKeyRotations(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Rotations = append(all.Rotations, resp.GetRotations()...)
		all.NextMarker, all.Truncated = resp.GetNextMarker(), resp.GetTruncated()
		if !c.morePages(len(all.Rotations), resp.GetTruncated()) {
			return all, nil
		}
		req.Marker = resp.GetNextMarker()
	}
}

// listKeyVersions shows every version of a key's material with its
// creation date, state and encryption count.
func listKeyVersions(ctx context.Context, c *call) (any, error) {
	resp, err := c.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: c.args.strings["key-id"]})
	if err != nil {
		return nil, err
	}
	md := resp.GetKeyMetadata()
	return &kmsv1.DescribeKeyResponse{KeyMetadata: &kmsv1.KeyMetadata{
		KeyId: md.GetKeyId(), CurrentKeyMaterialId: md.GetCurrentKeyMaterialId(), KeyMaterials: md.GetKeyMaterials(),
	}}, nil
}

const enableKeyRotationUsage = `Usage: kmsctl enable-key-rotation --key-id KEY [--rotation-period-in-days 90-2560]

Turns on automatic rotation (default every 365 days). Each rotation adds new
key material; ciphertexts made under older material keep decrypting.

Example:
  kmsctl enable-key-rotation --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --rotation-period-in-days 180
`

const disableKeyRotationUsage = `Usage: kmsctl disable-key-rotation --key-id KEY

Example:
  kmsctl disable-key-rotation --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const getKeyRotationStatusUsage = `Usage: kmsctl get-key-rotation-status --key-id KEY

Example:
  kmsctl get-key-rotation-status --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const rotateKeyOnDemandUsage = `Usage: kmsctl rotate-key-on-demand --key-id KEY

Rotates now (at most 10 times per key). For a key with imported material it
switches to material imported beforehand with --import-type NEW_KEY_MATERIAL.

Example:
  kmsctl rotate-key-on-demand --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const listKeyRotationsUsage = `Usage: kmsctl list-key-rotations --key-id KEY [--include-key-material ALL_KEY_MATERIAL|ROTATIONS_ONLY]
       [--limit N] [--marker M]

Lists a key's rotations, oldest first, with each material's encryption count.

Example:
  kmsctl list-key-rotations --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const listKeyVersionsUsage = `Usage: kmsctl list-key-versions --key-id KEY

Shows every version of a key's material: its id, creation date, rotation
type, state (CURRENT, NON_CURRENT, PENDING_ROTATION) and how many
encryptions it has made. (A kmsd extension; AWS KMS does not show usage.)

Example:
  kmsctl list-key-versions --key-id alias/payments --output text
`
