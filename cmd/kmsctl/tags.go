package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "tag-resource", op: "TagResource", usage: tagResourceUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"tags", kindTags, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.TagResource(ctx, &kmsv1.TagResourceRequest{KeyId: c.args.strings["key-id"], Tags: c.args.tags["tags"]})
			}},
		&command{name: "untag-resource", op: "UntagResource", usage: untagResourceUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"tag-keys", kindList, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.UntagResource(ctx, &kmsv1.UntagResourceRequest{KeyId: c.args.strings["key-id"], TagKeys: c.args.lists["tag-keys"]})
			}},
		&command{name: "list-resource-tags", op: "ListResourceTags", usage: listResourceTagsUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"limit", kindInt, false}, {"marker", kindString, false}},
			run:   listResourceTags},
	)
}

// listResourceTags lists a key's tags (see pages.go).
func listResourceTags(ctx context.Context, c *call) (any, error) {
	all := &kmsv1.ListResourceTagsResponse{}
	req := &kmsv1.ListResourceTagsRequest{KeyId: c.args.strings["key-id"], Marker: c.firstMarker()}
	for {
		req.Limit = c.pageLimit(len(all.Tags))
		resp, err := c.client.ListResourceTags(ctx, req)
		if err != nil {
			return nil, err
		}
		all.Tags = append(all.Tags, resp.GetTags()...)
		all.NextMarker, all.Truncated = resp.GetNextMarker(), resp.GetTruncated()
		if !c.morePages(len(all.Tags), resp.GetTruncated()) {
			return all, nil
		}
		req.Marker = resp.GetNextMarker()
	}
}

const tagResourceUsage = `Usage: kmsctl tag-resource --key-id KEY --tags TagKey=K,TagValue=V [TagKey=K2,TagValue=V2 ...]

Adds tags to a key, replacing the values of existing tag keys. --tags also
takes a JSON list: [{"TagKey":"K","TagValue":"V"}].

Example:
  kmsctl tag-resource --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --tags TagKey=env,TagValue=prod
`

const untagResourceUsage = `Usage: kmsctl untag-resource --key-id KEY --tag-keys K [K2 ...]

Example:
  kmsctl untag-resource --key-id 1234abcd-12ab-34cd-56ef-1234567890ab --tag-keys env
`

const listResourceTagsUsage = `Usage: kmsctl list-resource-tags --key-id KEY [--limit N] [--marker M]

Lists a key's tags, following pages unless --limit or --max-items is given.

Example:
  kmsctl list-resource-tags --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`
