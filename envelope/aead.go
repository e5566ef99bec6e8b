package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
)

// The primitives: HKDF-SHA256 and AES-256-GCM with a 96-bit IV and a
// 128-bit tag. Callers check every length before calling them.

// deriveKey is HKDF-SHA256 (RFC 5869) with output length n.
func deriveKey(secret, salt, info []byte, n int) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, salt, string(info), n)
}

// newGCM returns AES-GCM under key (16, 24 or 32 bytes).
func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealGCM appends AES-GCM(key, iv, plaintext, aad) = ciphertext || tag to dst.
func sealGCM(dst, key, iv, plaintext, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(iv) != g.NonceSize() {
		panic("envelope: bad IV length")
	}
	return g.Seal(dst, iv, plaintext, aad), nil
}

// openGCM authenticates and decrypts ciphertext || tag. Any failure is
// ErrDecrypt; nothing of a failed plaintext is returned.
func openGCM(key, iv, sealed, aad []byte) ([]byte, error) {
	g, err := newGCM(key)
	if err != nil || len(iv) != g.NonceSize() || len(sealed) < g.Overhead() {
		return nil, ErrDecrypt
	}
	pt, err := g.Open(nil, iv, sealed, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
