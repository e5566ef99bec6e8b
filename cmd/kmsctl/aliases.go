package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "create-alias", op: "CreateAlias", usage: createAliasUsage,
			flags: []flagSpec{{"alias-name", kindString, true}, {"target-key-id", kindString, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: c.args.strings["alias-name"], TargetKeyId: c.args.strings["target-key-id"]})
			}},
		&command{name: "update-alias", op: "UpdateAlias", usage: updateAliasUsage,
			flags: []flagSpec{{"alias-name", kindString, true}, {"target-key-id", kindString, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.UpdateAlias(ctx, &kmsv1.UpdateAliasRequest{AliasName: c.args.strings["alias-name"], TargetKeyId: c.args.strings["target-key-id"]})
			}},
		&command{name: "delete-alias", op: "DeleteAlias", usage: deleteAliasUsage,
			flags: []flagSpec{{"alias-name", kindString, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.DeleteAlias(ctx, &kmsv1.DeleteAliasRequest{AliasName: c.args.strings["alias-name"]})
			}},
		&command{name: "list-aliases", op: "ListAliases", usage: listAliasesUsage,
			flags: []flagSpec{{"key-id", kindString, false}, {"limit", kindInt, false}, {"marker", kindString, false}},
			run:   listAliases},
	)
}

// listAliases lists aliases (see pages.go).
func listAliases(ctx context.Context, c *call) (any, error) {
	all := &kmsv1.ListAliasesResponse{}
	req := &kmsv1.ListAliasesRequest{KeyId: c.args.strings["key-id"], Marker: c.firstMarker()}
	for {
		req.Limit = c.pageLimit(len(all.Aliases))
		resp, err := c.client.ListAliases(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Aliases = append(all.Aliases, resp.GetAliases()...)
		all.NextMarker, all.Truncated = resp.GetNextMarker(), resp.GetTruncated()
		if !c.morePages(len(all.Aliases), resp.GetTruncated()) {
			return all, nil
		}
		req.Marker = resp.GetNextMarker()
	}
}

const createAliasUsage = `Usage: kmsctl create-alias --alias-name alias/NAME --target-key-id KEY

Creates an alias. Names start with alias/ and use letters, digits, / _ and -;
alias/aws/ is reserved. KEY is a key id or key ARN.

Example:
  kmsctl create-alias --alias-name alias/payments --target-key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const updateAliasUsage = `Usage: kmsctl update-alias --alias-name alias/NAME --target-key-id KEY

Points an existing alias at another key.

Example:
  kmsctl update-alias --alias-name alias/payments --target-key-id 0987dcba-09fe-87dc-65ba-ab0987654321
`

const deleteAliasUsage = `Usage: kmsctl delete-alias --alias-name alias/NAME

Deletes an alias; the key is not affected.

Example:
  kmsctl delete-alias --alias-name alias/payments
`

const listAliasesUsage = `Usage: kmsctl list-aliases [--key-id KEY] [--limit N] [--marker M]

Lists every alias, or those of one key, following pages unless --limit or
--max-items is given.

Example:
  kmsctl list-aliases --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`
