package envelope

import (
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
)

// Limits of an encryption context.
const (
	// MaxContextBytes bounds the sum of the lengths of all keys and values
	// (AWS KMS allows 8192 characters).
	MaxContextBytes = 8192
)

// ValidateContext reports whether ec is a valid encryption context: keys
// are non-empty, keys and values are valid UTF-8, and all of them together
// are at most MaxContextBytes long.
func ValidateContext(ec map[string]string) error {
	total := 0
	for k, v := range ec {
		switch {
		case k == "":
			return fmt.Errorf("%w: empty key", ErrInvalidContext)
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return fmt.Errorf("%w: keys and values must be valid UTF-8", ErrInvalidContext)
		}
		total += len(k) + len(v)
	}
	if total > MaxContextBytes {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidContext, MaxContextBytes)
	}
	return nil
}

// EncodeContext returns the canonical encoding of ec: nothing for an empty
// context, otherwise count(2) then each pair, sorted by key bytes, as
// len(key)(2) || key || len(value)(2) || value, lengths big-endian. Two
// different contexts never have the same encoding.
func EncodeContext(ec map[string]string) ([]byte, error) {
	return appendContext(nil, ec)
}

func appendContext(dst []byte, ec map[string]string) ([]byte, error) {
	if len(ec) == 0 {
		return dst, nil
	}
	if err := ValidateContext(ec); err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(ec))
	size := 2
	for k, v := range ec {
		keys = append(keys, k)
		size += 4 + len(k) + len(v)
	}
	slices.Sort(keys)
	out := make([]byte, len(dst), len(dst)+size)
	copy(out, dst)
	out = binary.BigEndian.AppendUint16(out, uint16(len(keys)))
	for _, k := range keys {
		out = binary.BigEndian.AppendUint16(out, uint16(len(k)))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint16(out, uint16(len(ec[k])))
		out = append(out, ec[k]...)
	}
	return out, nil
}

// DecodeContext parses an encoding made by EncodeContext. It accepts only
// canonical encodings: sorted, unique keys and no trailing bytes.
func DecodeContext(b []byte) (map[string]string, error) {
	ec := map[string]string{}
	if len(b) == 0 {
		return ec, nil
	}
	s := cryptobyte.String(b)
	var n uint16
	if !s.ReadUint16(&n) {
		return nil, fmt.Errorf("%w: truncated", ErrInvalidContext)
	}
	prev := ""
	for i := range int(n) {
		var k, v cryptobyte.String
		if !s.ReadUint16LengthPrefixed(&k) || !s.ReadUint16LengthPrefixed(&v) {
			return nil, fmt.Errorf("%w: truncated", ErrInvalidContext)
		}
		key := string(k)
		if i > 0 && strings.Compare(key, prev) <= 0 {
			return nil, fmt.Errorf("%w: keys not in canonical order", ErrInvalidContext)
		}
		ec[key], prev = string(v), key
	}
	if !s.Empty() || n == 0 {
		return nil, fmt.Errorf("%w: not canonical", ErrInvalidContext)
	}
	if err := ValidateContext(ec); err != nil {
		return nil, err
	}
	return ec, nil
}

// subtleEqual compares two byte strings in constant time.
func subtleEqual(a, b []byte) int {
	return subtle.ConstantTimeCompare(a, b)
}
