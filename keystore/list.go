package keystore

import (
	"encoding/base64"
	"slices"
	"strings"
)

// Markers are opaque to callers: the base64url encoding of a kind prefix
// and the last id or name returned. A listing resumes after that entry, so
// a page is never repeated even if the entry was deleted meanwhile.
const (
	markerKeys    = "k1:"
	markerAliases = "a1:"
)

// Keys returns up to limit keys (all when limit <= 0) sorted by id,
// starting after marker ("" for the first page). nextMarker is "" on the
// last page. A marker that Keys did not return is ErrInvalidMarker.
func (s *Store) Keys(limit int, marker string) (keys []*Key, nextMarker string, err error) {
	after, err := decodeMarker(markerKeys, marker)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ids, last := page(s.v.keyIDs, after, limit)
	keys = make([]*Key, len(ids))
	for i, id := range ids {
		keys[i] = s.v.keys[id]
	}
	return keys, encodeMarker(markerKeys, last), nil
}

// Aliases returns up to limit aliases (all when limit <= 0) sorted by name,
// starting after marker. When keyID is not empty only the aliases of that
// key are listed. A marker that Aliases did not return is ErrInvalidMarker.
func (s *Store) Aliases(keyID string, limit int, marker string) ([]*Alias, string, error) {
	after, err := decodeMarker(markerAliases, marker)
	if err != nil {
		return nil, "", err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := s.v.aliasNames
	if keyID != "" {
		names = s.v.byTarget[keyID]
	}
	names, last := page(names, after, limit)
	aliases := make([]*Alias, len(names))
	for i, name := range names {
		aliases[i] = s.v.aliases[name]
	}
	return aliases, encodeMarker(markerAliases, last), nil
}

// page returns the entries of sorted after the given one, at most limit of
// them, and the last entry returned if more follow ("" otherwise).
func page(sorted []string, after string, limit int) (entries []string, last string) {
	i, found := slices.BinarySearch(sorted, after)
	if found {
		i++
	}
	rest := sorted[i:]
	if limit <= 0 || limit >= len(rest) {
		return rest, ""
	}
	return rest[:limit], rest[limit-1]
}

func encodeMarker(kind, last string) string {
	if last == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(kind + last))
}

func decodeMarker(kind, marker string) (string, error) {
	if marker == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(marker)
	if err != nil {
		return "", ErrInvalidMarker
	}
	after, ok := strings.CutPrefix(string(b), kind)
	if !ok || after == "" {
		return "", ErrInvalidMarker
	}
	return after, nil
}
