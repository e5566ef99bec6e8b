package main

import (
	"context"
	"encoding/json"
	"strings"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "create-grant", op: "CreateGrant", usage: createGrantUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"grantee-principal", kindString, true},
				{"operations", kindList, true}, {"retiring-principal", kindString, false},
				{"constraints", kindString, false}, {"name", kindString, false},
				{"grant-tokens", kindList, false}, {"dry-run", kindBool, false}},
			run: createGrant},
		&command{name: "list-grants", op: "ListGrants", usage: listGrantsUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"grant-id", kindString, false},
				{"grantee-principal", kindString, false}, {"limit", kindInt, false}, {"marker", kindString, false}},
			run: listGrants},
		&command{name: "list-retirable-grants", op: "ListRetirableGrants", usage: listRetirableGrantsUsage,
			flags: []flagSpec{{"retiring-principal", kindString, true}, {"limit", kindInt, false}, {"marker", kindString, false}},
			run:   listRetirableGrants},
		&command{name: "retire-grant", op: "RetireGrant", usage: retireGrantUsage,
			flags: []flagSpec{{"grant-token", kindString, false}, {"key-id", kindString, false},
				{"grant-id", kindString, false}, {"dry-run", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.RetireGrant(ctx, &kmsv1.RetireGrantRequest{GrantToken: a.strings["grant-token"],
					KeyId: a.strings["key-id"], GrantId: a.strings["grant-id"], DryRun: a.bools["dry-run"]})
			}},
		&command{name: "revoke-grant", op: "RevokeGrant", usage: revokeGrantUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"grant-id", kindString, true}, {"dry-run", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.RevokeGrant(ctx, &kmsv1.RevokeGrantRequest{KeyId: a.strings["key-id"],
					GrantId: a.strings["grant-id"], DryRun: a.bools["dry-run"]})
			}},
	)
}

func createGrant(ctx context.Context, c *call) (any, error) {
	a := c.args
	var ops []string
	for _, v := range a.lists["operations"] { // space- or comma-separated
		for _, op := range strings.Split(v, ",") {
			if op = strings.TrimSpace(op); op != "" {
				ops = append(ops, op)
			}
		}
	}
	cons, err := parseConstraints(a.strings["constraints"])
	if err != nil {
		return nil, err
	}
	return c.client.CreateGrant(ctx, &kmsv1.CreateGrantRequest{KeyId: a.strings["key-id"],
		GranteePrincipal: a.strings["grantee-principal"], RetiringPrincipal: a.strings["retiring-principal"],
		Operations: ops, Constraints: cons, Name: a.strings["name"], GrantTokens: a.lists["grant-tokens"],
		DryRun: a.bools["dry-run"]})
}

// parseConstraints parses --constraints: JSON
// ({"EncryptionContextSubset":{"k":"v"}}) or the AWS CLI shorthand
// EncryptionContextSubset={k=v,k2=v2} (or EncryptionContextEquals=...).
func parseConstraints(v string) (*kmsv1.GrantConstraints, error) {
	if v == "" {
		return nil, nil
	}
	v, err := textParam(v)
	if err != nil {
		return nil, err
	}
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		var j struct{ EncryptionContextSubset, EncryptionContextEquals map[string]string }
		if err := json.Unmarshal([]byte(v), &j); err != nil {
			return nil, usagef("--constraints: not a JSON object of constraints: %v", err)
		}
		return &kmsv1.GrantConstraints{EncryptionContextSubset: j.EncryptionContextSubset, EncryptionContextEquals: j.EncryptionContextEquals}, nil
	}
	kind, rest, ok := strings.Cut(v, "=")
	if !ok || !strings.HasPrefix(rest, "{") || !strings.HasSuffix(rest, "}") {
		return nil, usagef("--constraints: %q is not EncryptionContextSubset={k=v,...} or EncryptionContextEquals={k=v,...}", v)
	}
	ec, err := parseContext(strings.TrimSuffix(strings.TrimPrefix(rest, "{"), "}"))
	if err != nil {
		return nil, err
	}
	switch kind {
	case "EncryptionContextSubset":
		return &kmsv1.GrantConstraints{EncryptionContextSubset: ec}, nil
	case "EncryptionContextEquals":
		return &kmsv1.GrantConstraints{EncryptionContextEquals: ec}, nil
	}
	return nil, usagef("--constraints: unknown constraint %q", kind)
}

// listGrants lists a key's grants, following pages (see pages.go).
func listGrants(ctx context.Context, c *call) (any, error) {
	all := &kmsv1.ListGrantsResponse{}
	a := c.args
	req := &kmsv1.ListGrantsRequest{KeyId: a.strings["key-id"], GrantId: a.strings["grant-id"],
		GranteePrincipal: a.strings["grantee-principal"], Marker: c.firstMarker()}
	for {
		req.Limit = c.pageLimit(len(all.Grants))
		resp, err := c.client.ListGrants(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Grants = append(all.Grants, resp.GetGrants()...)
		all.NextMarker, all.Truncated = resp.GetNextMarker(), resp.GetTruncated()
		if !c.morePages(len(all.Grants), resp.GetTruncated()) {
			return all, nil
		}
		req.Marker = resp.GetNextMarker()
	}
}

// listRetirableGrants lists the grants a principal may retire.
func listRetirableGrants(ctx context.Context, c *call) (any, error) {
	all := &kmsv1.ListRetirableGrantsResponse{}
	req := &kmsv1.ListRetirableGrantsRequest{RetiringPrincipal: c.args.strings["retiring-principal"], Marker: c.firstMarker()}
	for {
		req.Limit = c.pageLimit(len(all.Grants))
		resp, err := c.client.ListRetirableGrants(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Grants = append(all.Grants, resp.GetGrants()...)
		all.NextMarker, all.Truncated = resp.GetNextMarker(), resp.GetTruncated()
		if !c.morePages(len(all.Grants), resp.GetTruncated()) {
			return all, nil
		}
		req.Marker = resp.GetNextMarker()
	}
}

const createGrantUsage = `Usage: kmsctl create-grant --key-id KEY --grantee-principal ARN --operations OP [OP ...]
       [--constraints EncryptionContextSubset={k=v,...}|EncryptionContextEquals={k=v,...}|JSON]
       [--retiring-principal ARN] [--name NAME] [--grant-tokens T ...] [--dry-run]

Lets the grantee call the operations (Encrypt, Decrypt, GenerateDataKey,
GenerateDataKeyWithoutPlaintext, ReEncryptFrom, ReEncryptTo, CreateGrant,
RetireGrant, DescribeKey; space- or comma-separated) on the key, at once and
on every member. Prints {"GrantId", "GrantToken"}. With --name, repeating the
command with the same parameters returns the same grant.

Example:
  kmsctl create-grant --key-id 1234abcd-12ab-34cd-56ef-1234567890ab \
    --grantee-principal arn:aws:iam::111122223333:user/app --operations Encrypt Decrypt \
    --constraints EncryptionContextSubset={tenant=acme}
`

const listGrantsUsage = `Usage: kmsctl list-grants --key-id KEY [--grant-id ID] [--grantee-principal ARN] [--limit N] [--marker M]

Lists a key's grants, following pages unless --limit or --max-items is given.

Example:
  kmsctl list-grants --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`

const listRetirableGrantsUsage = `Usage: kmsctl list-retirable-grants --retiring-principal ARN [--limit N] [--marker M]

Lists the grants, of every key, whose retiring principal is ARN.

Example:
  kmsctl list-retirable-grants --retiring-principal arn:aws:iam::111122223333:user/ops
`

const retireGrantUsage = `Usage: kmsctl retire-grant (--grant-token TOKEN | --key-id KEY --grant-id ID) [--dry-run]

Ends a grant. Its retiring principal may retire it, its grantee if the grant
allows RetireGrant, and the account root.

Example:
  kmsctl retire-grant --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --grant-id 0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60
`

const revokeGrantUsage = `Usage: kmsctl revoke-grant --key-id KEY --grant-id ID [--dry-run]

Ends a grant; whoever may call kms:RevokeGrant on the key may revoke it.

Example:
  kmsctl revoke-grant --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --grant-id 0c237476b39f8bc44e45212e08498fbe3151305030726c0590dd8d3e9f3d6a60
`
