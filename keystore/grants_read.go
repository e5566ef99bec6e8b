package keystore

import (
	"maps"
	"slices"
	"strings"
)

// Markers of grant listings (see list.go).
const (
	markerGrants    = "g1:"
	markerRetirable = "r1:"
)

// Grant returns a grant of a key, or ErrNotFound. The returned grant is
// shared: do not modify it.
func (s *Store) Grant(keyID, grantID string) (*Grant, error) {
	s.mu.RLock()
	g := s.v.grants.byKey[keyID][grantID]
	s.mu.RUnlock()
	if g == nil {
		return nil, ErrNotFound
	}
	return g, nil
}

// GrantCount returns the number of grants on a key.
func (s *Store) GrantCount(keyID string) int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.v.grants.byKey[keyID])
}

// Grants returns up to limit grants of a key (all when limit <= 0) sorted
// by grant id, starting after marker; only those of grantee when it is not
// empty. A marker that Grants did not return is ErrInvalidMarker.
func (s *Store) Grants(keyID, grantee string, limit int, marker string) ([]*Grant, string, error) {
	after, err := decodeMarker(markerGrants, marker)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	kg := s.v.grants.byKey[keyID]
	var ids []string
	if grantee == "" {
		ids = slices.Sorted(maps.Keys(kg))
	} else {
		for _, ref := range keyRefs(s.v.grants.byGrantee[grantee], keyID) {
			ids = append(ids, strings.TrimPrefix(ref, keyID+"/"))
		}
	}
	ids, last := page(ids, after, limit)
	out := make([]*Grant, len(ids))
	for i, id := range ids {
		out[i] = kg[id]
	}
	return out, encodeMarker(markerGrants, last), nil
}

// GrantsFor returns the grants of a key whose grantee is principal.
func (s *Store) GrantsFor(keyID, principal string) []*Grant {
	s.mu.RLock()
	defer s.mu.RUnlock()
	refs := keyRefs(s.v.grants.byGrantee[principal], keyID)
	if len(refs) == 0 {
		return nil
	}
	kg := s.v.grants.byKey[keyID]
	out := make([]*Grant, len(refs))
	for i, ref := range refs {
		out[i] = kg[ref[len(keyID)+1:]]
	}
	return out
}

// RetirableGrants returns up to limit grants, of any key, whose retiring
// principal is principal, sorted by key and grant id, starting after
// marker.
func (s *Store) RetirableGrants(principal string, limit int, marker string) ([]*Grant, string, error) {
	after, err := decodeMarker(markerRetirable, marker)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	refs, last := page(s.v.grants.byRetiring[principal], after, limit)
	out := make([]*Grant, len(refs))
	for i, ref := range refs {
		keyID, id, _ := strings.Cut(ref, "/")
		out[i] = s.v.grants.byKey[keyID][id]
	}
	return out, encodeMarker(markerRetirable, last), nil
}

// SameGrant returns the grant of g's key with g's name and parameters,
// if g has a name and one exists (see Grant.SameAs).
func (s *Store) SameGrant(g *Grant) (*Grant, bool) {
	if g.Name == "" {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	kg := s.v.grants.byKey[g.KeyID]
	for _, id := range slices.Sorted(maps.Keys(kg)) {
		if kg[id].SameAs(g) {
			return kg[id], true
		}
	}
	return nil, false
}

// keyRefs returns the entries of sorted refs ("<key id>/<grant id>") of
// one key.
func keyRefs(refs []string, keyID string) []string {
	prefix := keyID + "/"
	i, _ := slices.BinarySearch(refs, prefix)
	j := i
	for j < len(refs) && strings.HasPrefix(refs[j], prefix) {
		j++
	}
	return refs[i:j]
}
