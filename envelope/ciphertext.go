package envelope

import (
	"fmt"
	"io"
)

// Ciphertext format constants; see the package documentation.
const (
	// FormatV1 is the only ciphertext format so far.
	FormatV1 byte = 0x01
	// AlgAES256GCMHKDFSHA256: AES-256-GCM under a key derived per message
	// with HKDF-SHA256.
	AlgAES256GCMHKDFSHA256 byte = 0x01
	// HeaderSize is the length of the header (format .. IV).
	HeaderSize = 1 + 1 + 16 + 32 + saltSize + ivSize
	// Overhead is the size of a ciphertext minus its plaintext.
	Overhead = HeaderSize + tagSize

	saltSize = 32
	ivSize   = 12
	tagSize  = 16
)

// Offsets of the header fields.
const (
	offKeyID      = 2
	offMaterialID = offKeyID + 16
	offSalt       = offMaterialID + 32
	offIV         = offSalt + saltSize
)

// encInfo prefixes the HKDF info of message keys.
const encInfo = "kmsd/v1/enc"

// Header is the clear-text part of a ciphertext. It is authenticated, not
// secret.
type Header struct {
	Format     byte
	Algorithm  byte
	KeyID      KeyID
	MaterialID MaterialID
	Salt       [saltSize]byte
	IV         [ivSize]byte
}

// ParseHeader checks the framing of a ciphertext (format, algorithm, length)
// and returns its header. It proves nothing about authenticity: only Open
// does. Any problem is ErrDecrypt.
func ParseHeader(blob []byte) (Header, error) {
	if len(blob) < Overhead || blob[0] != FormatV1 || blob[1] != AlgAES256GCMHKDFSHA256 {
		return Header{}, ErrDecrypt
	}
	var h Header
	h.Format, h.Algorithm = blob[0], blob[1]
	copy(h.KeyID[:], blob[offKeyID:])
	copy(h.MaterialID[:], blob[offMaterialID:])
	copy(h.Salt[:], blob[offSalt:])
	copy(h.IV[:], blob[offIV:HeaderSize])
	return h, nil
}

// Seal encrypts plaintext under key k (a version of the key keyID), binding
// the encryption context ec. The salt and IV are fresh random values from
// rand; callers cannot choose them.
func Seal(rand io.Reader, k Key, keyID KeyID, plaintext []byte, ec map[string]string) ([]byte, error) {
	k.must()
	out := make([]byte, HeaderSize, Overhead+len(plaintext))
	out[0], out[1] = FormatV1, AlgAES256GCMHKDFSHA256
	copy(out[offKeyID:], keyID[:])
	copy(out[offMaterialID:], k.materialID[:])
	if _, err := io.ReadFull(rand, out[offSalt:HeaderSize]); err != nil {
		return nil, fmt.Errorf("envelope: read salt and IV: %w", err)
	}
	aad, err := appendContext(out[:HeaderSize:HeaderSize], ec)
	if err != nil {
		return nil, err
	}
	mk := messageKey(k, out[:HeaderSize])
	defer clear(mk[:])
	return sealGCM(out, mk[:], out[offIV:HeaderSize], plaintext, aad), nil
}

// Open authenticates and decrypts a ciphertext made by Seal with key k and
// the same encryption context. Every failure is ErrDecrypt.
func Open(k Key, blob []byte, ec map[string]string) ([]byte, error) {
	k.must()
	if _, err := ParseHeader(blob); err != nil {
		return nil, ErrDecrypt
	}
	if subtleEqual(blob[offMaterialID:offSalt], k.materialID[:]) != 1 {
		return nil, ErrDecrypt
	}
	aad, err := appendContext(blob[:HeaderSize:HeaderSize], ec)
	if err != nil {
		return nil, ErrDecrypt
	}
	mk := messageKey(k, blob[:HeaderSize])
	defer clear(mk[:])
	return openGCM(mk[:], blob[offIV:HeaderSize], blob[HeaderSize:], aad)
}

// messageKey derives the per-message key from the version material and the
// header: HKDF-SHA256(material, salt, "kmsd/v1/enc" || keyID || materialID).
func messageKey(k Key, header []byte) [32]byte {
	var info [len(encInfo) + 16 + 32]byte
	n := copy(info[:], encInfo)
	copy(info[n:], header[offKeyID:offSalt])
	return hkdf32(k.b[:], header[offSalt:offIV], info[:])
}
