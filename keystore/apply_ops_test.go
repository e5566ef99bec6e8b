package keystore

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestApplyOps covers each op's effect and each of its refusals.
func TestApplyOps(t *testing.T) {
	later := t0.Add(time.Hour)
	tests := []struct {
		name  string
		seed  string
		m     Mutation
		want  error                        // nil: applied
		check func(t *testing.T, s *Store) // after an applied mutation
	}{
		{"create key", seedEnabled, Mutation{Op: OpCreateKey, Key: withTags(testKey("k3"), Tag{"z", "1"}, Tag{"a", "2"})}, nil,
			func(t *testing.T, s *Store) {
				k := mustKey(t, s, "k3")
				if k.State != Enabled || !slices.Equal(k.Tags, []Tag{{"a", "2"}, {"z", "1"}}) {
					t.Errorf("k3 = %+v", k)
				}
			}},
		{"create pending import key", seedEnabled, Mutation{Op: OpCreateKey, Key: &Key{ID: "k3", State: PendingImport, Origin: OriginExternal}}, nil,
			func(t *testing.T, s *Store) { wantState(t, s, "k3", PendingImport) }},
		{"create existing key", seedEnabled, Mutation{Op: OpCreateKey, Key: testKey("k1")}, ErrAlreadyExists, nil},
		{"create key in state Disabled", seedEnabled, Mutation{Op: OpCreateKey, Key: withState(testKey("k3"), Disabled)}, ErrInvalidMutation, nil},
		{"create key without id", seedEnabled, Mutation{Op: OpCreateKey, Key: &Key{State: Enabled}}, ErrInvalidMutation, nil},
		{"create key with too many tags", seedEnabled, Mutation{Op: OpCreateKey, Key: withTags(testKey("k3"), manyTags(MaxTagsPerKey+1)...)}, ErrLimitExceeded, nil},
		{"update description", seedEnabled, Mutation{Op: OpUpdateDescription, KeyID: "k1", Description: "d"}, nil,
			func(t *testing.T, s *Store) {
				if d := mustKey(t, s, "k1").Description; d != "d" {
					t.Errorf("description = %q", d)
				}
			}},
		{"update description of missing key", seedEnabled, Mutation{Op: OpUpdateDescription, KeyID: "nope"}, ErrNotFound, nil},
		{"enable missing key", seedEnabled, Mutation{Op: OpEnableKey, KeyID: "nope"}, ErrNotFound, nil},
		{"enable without key id", seedEnabled, Mutation{Op: OpEnableKey}, ErrInvalidMutation, nil},
		{"schedule deletion sets date and window", seedDisabled, Mutation{Op: OpScheduleKeyDeletion, KeyID: "k1", DeletionDate: deletionDate, PendingWindowInDays: 7}, nil,
			func(t *testing.T, s *Store) {
				k := mustKey(t, s, "k1")
				if !k.DeletionDate.Equal(deletionDate) || k.PendingWindowInDays != 7 {
					t.Errorf("k1 = %+v", k)
				}
				if due := s.DueForDeletion(deletionDate); !slices.Equal(due, []string{"k1"}) {
					t.Errorf("due at deletion date = %v", due)
				}
				if due := s.DueForDeletion(deletionDate.Add(-time.Second)); len(due) != 0 {
					t.Errorf("due before deletion date = %v", due)
				}
			}},
		{"schedule deletion without date", seedEnabled, Mutation{Op: OpScheduleKeyDeletion, KeyID: "k1"}, ErrInvalidMutation, nil},
		{"cancel deletion clears date", seedPendingDel, Mutation{Op: OpCancelKeyDeletion, KeyID: "k1"}, nil,
			func(t *testing.T, s *Store) {
				k := mustKey(t, s, "k1")
				if !k.DeletionDate.IsZero() || k.PendingWindowInDays != 0 {
					t.Errorf("k1 = %+v", k)
				}
			}},
		{"delete key at deletion date", seedPendingDel, Mutation{Op: OpDeleteKey, KeyID: "k1", Time: deletionDate}, nil,
			func(t *testing.T, s *Store) {
				if _, err := s.Key("k1"); !errors.Is(err, ErrNotFound) {
					t.Errorf("Key(k1) = %v", err)
				}
				if _, err := s.Alias("alias/one"); !errors.Is(err, ErrNotFound) {
					t.Errorf("alias of deleted key: %v", err)
				}
				if s.KeyCount() != 1 {
					t.Errorf("KeyCount = %d", s.KeyCount())
				}
			}},
		{"delete key before deletion date", seedPendingDel, Mutation{Op: OpDeleteKey, KeyID: "k1", Time: deletionDate.Add(-time.Nanosecond)}, ErrInvalidState, nil},
		{"delete missing key", seedEnabled, Mutation{Op: OpDeleteKey, KeyID: "nope"}, ErrNotFound, nil},
		{"create alias", seedEnabled, Mutation{Op: OpCreateAlias, AliasName: "alias/two", KeyID: "k1", Time: later}, nil,
			func(t *testing.T, s *Store) {
				a, err := s.Alias("alias/two")
				if err != nil || a.TargetKeyID != "k1" || !a.CreationDate.Equal(later) {
					t.Errorf("alias/two = %+v, %v", a, err)
				}
			}},
		{"create existing alias", seedEnabled, Mutation{Op: OpCreateAlias, AliasName: "alias/one", KeyID: "k2"}, ErrAlreadyExists, nil},
		{"create alias to missing key", seedEnabled, Mutation{Op: OpCreateAlias, AliasName: "alias/two", KeyID: "nope"}, ErrNotFound, nil},
		{"create alias to key pending deletion", seedPendingDel, Mutation{Op: OpCreateAlias, AliasName: "alias/two", KeyID: "k1"}, ErrInvalidState, nil},
		{"create alias without name", seedEnabled, Mutation{Op: OpCreateAlias, KeyID: "k1"}, ErrInvalidMutation, nil},
		{"update alias", seedEnabled, Mutation{Op: OpUpdateAlias, AliasName: "alias/one", KeyID: "k2", Time: later}, nil,
			func(t *testing.T, s *Store) {
				a, _ := s.Alias("alias/one")
				if a.TargetKeyID != "k2" || !a.LastUpdatedDate.Equal(later) || !a.CreationDate.Equal(t0) {
					t.Errorf("alias/one = %+v", a)
				}
				if as, _, _ := s.Aliases("k1", 0, ""); len(as) != 0 {
					t.Errorf("k1 still has aliases %v", as)
				}
			}},
		{"update missing alias", seedEnabled, Mutation{Op: OpUpdateAlias, AliasName: "alias/nope", KeyID: "k2"}, ErrNotFound, nil},
		{"update alias to missing key", seedEnabled, Mutation{Op: OpUpdateAlias, AliasName: "alias/one", KeyID: "nope"}, ErrNotFound, nil},
		{"update alias to key pending deletion", seedPendingDel, Mutation{Op: OpUpdateAlias, AliasName: "alias/one", KeyID: "k1"}, ErrInvalidState, nil},
		{"delete alias", seedEnabled, Mutation{Op: OpDeleteAlias, AliasName: "alias/one"}, nil,
			func(t *testing.T, s *Store) {
				if _, err := s.Alias("alias/one"); !errors.Is(err, ErrNotFound) {
					t.Errorf("Alias = %v", err)
				}
			}},
		{"delete missing alias", seedEnabled, Mutation{Op: OpDeleteAlias, AliasName: "alias/nope"}, ErrNotFound, nil},
		{"tag overwrites and sorts", seedEnabled, Mutation{Op: OpTagResource, KeyID: "k1", Tags: []Tag{{"b", "1"}, {"a", "1"}, {"b", "2"}}}, nil,
			func(t *testing.T, s *Store) { wantTags(t, s, Tag{"a", "1"}, Tag{"b", "2"}) }},
		{"tag beyond limit", seedEnabled, Mutation{Op: OpTagResource, KeyID: "k1", Tags: manyTags(MaxTagsPerKey + 1)}, ErrLimitExceeded, nil},
		{"tag missing key", seedEnabled, Mutation{Op: OpTagResource, KeyID: "nope"}, ErrNotFound, nil},
		{"untag ignores missing tag keys", seedEnabled, Mutation{Op: OpUntagResource, KeyID: "k1", TagKeys: []string{"x", "nope"}}, nil,
			func(t *testing.T, s *Store) { wantTags(t, s) }},
		{"untag missing key", seedEnabled, Mutation{Op: OpUntagResource, KeyID: "nope"}, ErrNotFound, nil},
		{"unknown op", seedEnabled, Mutation{Op: "Frobnicate", KeyID: "k1"}, ErrInvalidMutation, nil},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%d:%s", i, tt.name), func(t *testing.T) {
			s := seed(t, tt.seed)
			if tt.want != nil {
				expectRefused(t, s, &tt.m, tt.want)
				return
			}
			mustApply(t, s, &tt.m)
			tt.check(t, s)
		})
	}
}

func TestApplyAliasLimit(t *testing.T) {
	s := seed(t, seedEnabled)
	for i := 1; i < MaxAliasesPerKey; i++ {
		mustApply(t, s, &Mutation{Op: OpCreateAlias, AliasName: fmt.Sprintf("alias/%02d", i), KeyID: "k1"})
	}
	m := &Mutation{Op: OpCreateAlias, AliasName: "alias/extra", KeyID: "k1"}
	expectRefused(t, s, m, ErrLimitExceeded)
	m = &Mutation{Op: OpUpdateAlias, AliasName: "alias/01", KeyID: "k2"}
	mustApply(t, s, m)
	m = &Mutation{Op: OpCreateAlias, AliasName: "alias/extra", KeyID: "k1"}
	mustApply(t, s, m)
}

func TestApplyNil(t *testing.T) {
	s := openStore(t, "")
	if err := s.Apply(1, nil); !errors.Is(err, ErrInvalidMutation) {
		t.Fatalf("Apply(nil) = %v", err)
	}
	if s.AppliedIndex() != 1 {
		t.Errorf("applied index = %d", s.AppliedIndex())
	}
}

func mustKey(t *testing.T, s *Store, id string) *Key {
	t.Helper()
	k, err := s.Key(id)
	if err != nil {
		t.Fatalf("Key(%s): %v", id, err)
	}
	return k
}

func wantState(t *testing.T, s *Store, id string, want State) {
	t.Helper()
	if got := mustKey(t, s, id).State; got != want {
		t.Errorf("%s state = %s, want %s", id, got, want)
	}
}

func wantTags(t *testing.T, s *Store, want ...Tag) {
	t.Helper()
	if got := mustKey(t, s, "k1").Tags; !slices.Equal(got, want) {
		t.Errorf("tags = %v, want %v", got, want)
	}
}

func withTags(k *Key, tags ...Tag) *Key { k.Tags = tags; return k }

func withState(k *Key, s State) *Key { k.State = s; return k }

func manyTags(n int) []Tag {
	tags := make([]Tag, n)
	for i := range tags {
		tags[i] = Tag{fmt.Sprintf("t%03d", i), "v"}
	}
	return tags
}
