package keystore

import (
	"fmt"
	"slices"
	"strings"
)

func planTagResource(v *view, m *Mutation) (change, error) {
	k, err := v.mutableKey(m)
	if err != nil {
		return change{}, err
	}
	tags, err := mergeTags(k.Tags, m.Tags)
	if err != nil {
		return change{}, fmt.Errorf("%s: key %q: %w", m.Op, k.ID, err)
	}
	k.Tags = tags
	return change{putKeys: []*Key{k}}, nil
}

func planUntagResource(v *view, m *Mutation) (change, error) {
	k, err := v.mutableKey(m)
	if err != nil {
		return change{}, err
	}
	k.Tags = slices.DeleteFunc(k.Tags, func(t Tag) bool {
		return slices.Contains(m.TagKeys, t.Key)
	})
	return change{putKeys: []*Key{k}}, nil
}

// mergeTags returns tags with add merged in: a tag key that exists already
// gets the new value. The result is sorted by tag key and holds at most
// MaxTagsPerKey tags (else ErrLimitExceeded). tags is not modified.
func mergeTags(tags, add []Tag) ([]Tag, error) {
	out := slices.Clone(tags)
	for _, t := range add {
		i, found := slices.BinarySearchFunc(out, t.Key, func(e Tag, key string) int {
			return strings.Compare(e.Key, key)
		})
		if found {
			out[i].Value = t.Value
			continue
		}
		out = slices.Insert(out, i, t)
	}
	if len(out) > MaxTagsPerKey {
		return nil, fmt.Errorf("%d tags, at most %d allowed: %w", len(out), MaxTagsPerKey, ErrLimitExceeded)
	}
	return out, nil
}
