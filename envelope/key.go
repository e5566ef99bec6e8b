package envelope

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
)

// Key is 256 bits of secret key material: a key version's material or the
// root key. The bytes live in an unexported array and every way of printing
// a Key prints "[REDACTED]"; Bytes is the one accessor of the raw material.
// The zero Key is not a key: using it panics.
type Key struct {
	b          [32]byte
	materialID MaterialID
	ok         bool
}

// MaterialID identifies key material without revealing it:
// SHA-256("kmsd/v1/material-id" || material). It is AWS KMS's KeyMaterialId
// and is written in ciphertexts, so decryption picks the right version.
type MaterialID [32]byte

const redacted = "[REDACTED]"

// GenerateKey returns new key material read from rand (crypto/rand.Reader
// in production).
func GenerateKey(rand io.Reader) (Key, error) {
	var b [32]byte
	if _, err := io.ReadFull(rand, b[:]); err != nil {
		return Key{}, fmt.Errorf("envelope: generate key: %w", err)
	}
	return newKey(b), nil
}

// KeyFromBytes returns a Key holding a copy of b, which must be 32 bytes.
func KeyFromBytes(b []byte) (Key, error) {
	if len(b) != 32 {
		return Key{}, ErrInvalidKey
	}
	return newKey([32]byte(b)), nil
}

func newKey(b [32]byte) Key {
	k := Key{b: b, ok: true}
	h := sha256.New()
	h.Write([]byte("kmsd/v1/material-id"))
	h.Write(b[:])
	h.Sum(k.materialID[:0])
	return k
}

func (k *Key) must() {
	if !k.ok {
		panic("envelope: use of an uninitialized Key")
	}
}

// Bytes returns a copy of the raw key material.
func (k Key) Bytes() []byte {
	k.must()
	return append([]byte(nil), k.b[:]...)
}

// MaterialID returns the material's public identifier.
func (k Key) MaterialID() MaterialID {
	k.must()
	return k.materialID
}

// Equal reports, in constant time, whether two keys hold the same material.
func (k Key) Equal(o Key) bool {
	k.must()
	o.must()
	return subtle.ConstantTimeCompare(k.b[:], o.b[:]) == 1
}

// String, GoString, Format, MarshalJSON and LogValue never reveal the key.
func (Key) String() string                        { return redacted }
func (Key) GoString() string                      { return redacted }
func (Key) Format(f fmt.State, _ rune)            { io.WriteString(f, redacted) }
func (Key) MarshalJSON() ([]byte, error)          { return []byte(`"` + redacted + `"`), nil }
func (Key) MarshalText() ([]byte, error)          { return []byte(redacted), nil }
func (Key) LogValue() slog.Value                  { return slog.StringValue(redacted) }
func (m MaterialID) String() string               { return hex.EncodeToString(m[:]) }
func (m MaterialID) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses 64 hex digits, like ParseMaterialID.
func (m *MaterialID) UnmarshalText(b []byte) error {
	v, err := ParseMaterialID(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMaterialID parses 64 hex digits, in either case.
func ParseMaterialID(s string) (MaterialID, error) {
	var m MaterialID
	if len(s) != 64 {
		return m, ErrInvalidMaterialID
	}
	if _, err := hex.Decode(m[:], []byte(s)); err != nil {
		return MaterialID{}, ErrInvalidMaterialID
	}
	return m, nil
}
