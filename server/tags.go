package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Tag limits (AWS KMS's).
const (
	maxTagKeyLength     = 128
	maxTagValueLength   = 256
	maxListTagsLimit    = 50
	defaultListTagLimit = 50
)

// TagResource adds or overwrites tags on a key.
func (s *Server) TagResource(ctx context.Context, req *kmsv1.TagResourceRequest) (*kmsv1.TagResourceResponse, error) {
	if len(req.GetTags()) == 0 {
		return nil, validationError("Tags is required.")
	}
	if err := validateTags(req.GetTags()); err != nil {
		return nil, err
	}
	m := &keystore.Mutation{Op: keystore.OpTagResource, Tags: sortedTags(toStoreTags(req.GetTags()))}
	if err := s.mutateTags(ctx, req.GetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.TagResourceResponse{}, nil
}

// UntagResource removes tags from a key.
func (s *Server) UntagResource(ctx context.Context, req *kmsv1.UntagResourceRequest) (*kmsv1.UntagResourceResponse, error) {
	if len(req.GetTagKeys()) == 0 {
		return nil, validationError("TagKeys is required.")
	}
	for _, k := range req.GetTagKeys() {
		if err := validateTagKey(k); err != nil {
			return nil, err
		}
	}
	m := &keystore.Mutation{Op: keystore.OpUntagResource, TagKeys: req.GetTagKeys()}
	if err := s.mutateTags(ctx, req.GetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.UntagResourceResponse{}, nil
}

func (s *Server) mutateTags(ctx context.Context, keyID string, m *keystore.Mutation) error {
	err := s.mutateKey(ctx, keyID, m)
	if errors.Is(err, keystore.ErrLimitExceeded) {
		return newAPIError(codes.ResourceExhausted, excLimitExceeded, "A key can have at most %d tags", keystore.MaxTagsPerKey)
	}
	return err
}

// ListResourceTags lists a key's tags.
func (s *Server) ListResourceTags(ctx context.Context, req *kmsv1.ListResourceTagsRequest) (*kmsv1.ListResourceTagsResponse, error) {
	limit, err := pageLimit(req.GetLimit(), defaultListTagLimit, maxListTagsLimit)
	if err != nil {
		return nil, err
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	start := 0
	if m := req.GetMarker(); m != "" {
		i, ok := slices.BinarySearchFunc(k.Tags, m, func(t keystore.Tag, m string) int { return strings.Compare(t.Key, m) })
		if !ok {
			return nil, newAPIError(codes.InvalidArgument, excInvalidMarker, "The marker is not valid.")
		}
		start = i
	}
	resp := &kmsv1.ListResourceTagsResponse{}
	end := min(start+limit, len(k.Tags))
	for _, t := range k.Tags[start:end] {
		resp.Tags = append(resp.Tags, &kmsv1.Tag{TagKey: t.Key, TagValue: t.Value})
	}
	if end < len(k.Tags) {
		resp.NextMarker, resp.Truncated = k.Tags[end].Key, true
	}
	return resp, nil
}

func validateTags(tags []*kmsv1.Tag) error {
	if len(tags) > keystore.MaxTagsPerKey {
		return newAPIError(codes.InvalidArgument, excTag, "A key can have at most %d tags", keystore.MaxTagsPerKey)
	}
	seen := make(map[string]bool, len(tags))
	for _, t := range tags {
		if err := validateTagKey(t.GetTagKey()); err != nil {
			return err
		}
		if len(t.GetTagValue()) > maxTagValueLength || !utf8.ValidString(t.GetTagValue()) {
			return newAPIError(codes.InvalidArgument, excTag, "Tag values must be valid UTF-8 of at most %d characters", maxTagValueLength)
		}
		if seen[t.GetTagKey()] {
			return newAPIError(codes.InvalidArgument, excTag, "Duplicate tag key %q", t.GetTagKey())
		}
		seen[t.GetTagKey()] = true
	}
	return nil
}

func validateTagKey(k string) error {
	if k == "" || len(k) > maxTagKeyLength || !utf8.ValidString(k) {
		return newAPIError(codes.InvalidArgument, excTag, "Tag keys must be valid UTF-8 of 1 to %d characters", maxTagKeyLength)
	}
	if strings.HasPrefix(k, "aws:") {
		return newAPIError(codes.InvalidArgument, excTag, "Tag keys beginning with aws: are reserved")
	}
	return nil
}

func sortedTags(tags []keystore.Tag) []keystore.Tag {
	slices.SortFunc(tags, func(a, b keystore.Tag) int { return strings.Compare(a.Key, b.Key) })
	if len(tags) == 0 {
		return nil
	}
	return tags
}
