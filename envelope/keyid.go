package envelope

import (
	"encoding/hex"
	"fmt"
	"io"
)

// KeyID is a key's 128-bit identifier, written as a UUID
// ("1234abcd-12ab-34cd-56ef-1234567890ab"), as AWS KMS writes key ids.
type KeyID [16]byte

// NewKeyID returns a random (version 4) UUID read from rand.
func NewKeyID(rand io.Reader) (KeyID, error) {
	var id KeyID
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return KeyID{}, fmt.Errorf("envelope: new key id: %w", err)
	}
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id, nil
}

// ParseKeyID parses the 36-character UUID form, in either case.
func ParseKeyID(s string) (KeyID, error) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return KeyID{}, ErrInvalidKeyID
	}
	var h [32]byte
	n := copy(h[:], s[0:8])
	n += copy(h[n:], s[9:13])
	n += copy(h[n:], s[14:18])
	n += copy(h[n:], s[19:23])
	copy(h[n:], s[24:])
	var id KeyID
	if _, err := hex.Decode(id[:], h[:]); err != nil {
		return KeyID{}, ErrInvalidKeyID
	}
	return id, nil
}

// String returns the lowercase UUID form.
func (id KeyID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], id[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], id[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], id[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], id[8:10])
	b[23] = '-'
	hex.Encode(b[24:], id[10:])
	return string(b[:])
}

// MarshalText returns the lowercase UUID form, so key ids read well in JSON
// and structured logs.
func (id KeyID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses the UUID form, like ParseKeyID.
func (id *KeyID) UnmarshalText(b []byte) error {
	v, err := ParseKeyID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}
