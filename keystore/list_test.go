package keystore

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestKeysPaging(t *testing.T) {
	s := openStore(t, "")
	var want []string
	for i := 9; i >= 0; i-- { // created out of order
		id := fmt.Sprintf("key-%d", i)
		createKey(t, s, testKey(id))
		want = append(want, id)
	}
	slices.Sort(want)
	for _, limit := range []int{1, 3, 10, 11} {
		var got []string
		marker, pages := "", 0
		for {
			keys, next, err := s.Keys(limit, marker)
			if err != nil {
				t.Fatal(err)
			}
			pages++
			for _, k := range keys {
				got = append(got, k.ID)
			}
			if next == "" {
				break
			}
			marker = next
		}
		if !slices.Equal(got, want) {
			t.Errorf("limit %d: got %v", limit, got)
		}
		if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
			t.Errorf("limit %d: %d pages, want %d", limit, pages, wantPages)
		}
	}
}

func TestKeysMarkerSurvivesDeletion(t *testing.T) {
	s := openStore(t, "")
	for _, id := range []string{"a", "b", "c"} {
		createKey(t, s, testKey(id))
	}
	_, marker, _ := s.Keys(2, "")
	mustApply(t, s, &Mutation{Op: OpScheduleKeyDeletion, KeyID: "b", DeletionDate: t0})
	mustApply(t, s, &Mutation{Op: OpDeleteKey, Time: t0, KeyID: "b"})
	keys, next, err := s.Keys(2, marker)
	if err != nil || len(keys) != 1 || keys[0].ID != "c" || next != "" {
		t.Errorf("page after deleted marker entry: %v %q %v", keys, next, err)
	}
}

func TestBadMarker(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("a"))
	createKey(t, s, testKey("b"))
	mustApply(t, s, &Mutation{Op: OpCreateAlias, AliasName: "alias/a", KeyID: "a"})
	mustApply(t, s, &Mutation{Op: OpCreateAlias, AliasName: "alias/b", KeyID: "a"})
	_, keyMarker, _ := s.Keys(1, "")
	_, aliasMarker, _ := s.Aliases("", 1, "")
	for i, marker := range []string{"!!!", "a", "YQ", aliasMarker} {
		if _, _, err := s.Keys(1, marker); !errors.Is(err, ErrInvalidMarker) {
			t.Errorf("Test %d: Keys(%q) = %v", i, marker, err)
		}
	}
	if _, _, err := s.Aliases("", 1, keyMarker); !errors.Is(err, ErrInvalidMarker) {
		t.Errorf("Aliases(key marker) = %v", err)
	}
}

func TestAliasesPaging(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("k1"))
	createKey(t, s, testKey("k2"))
	for i := range 7 {
		target := []string{"k1", "k2"}[i%2]
		mustApply(t, s, &Mutation{Op: OpCreateAlias, AliasName: fmt.Sprintf("alias/%d", 6-i), KeyID: target})
	}
	tests := []struct {
		keyID string
		want  []string
	}{
		{"", []string{"alias/0", "alias/1", "alias/2", "alias/3", "alias/4", "alias/5", "alias/6"}},
		{"k1", []string{"alias/0", "alias/2", "alias/4", "alias/6"}},
		{"k2", []string{"alias/1", "alias/3", "alias/5"}},
		{"nope", nil},
	}
	for i, tt := range tests {
		var got []string
		marker := ""
		for {
			page, next, err := s.Aliases(tt.keyID, 2, marker)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				got = append(got, a.Name)
			}
			if next == "" {
				break
			}
			marker = next
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Test %d: Aliases(%q) = %v, want %v", i, tt.keyID, got, tt.want)
		}
	}
}
