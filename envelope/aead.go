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

// hmacBlockSize is SHA-256's block size, the longest HMAC key hkdf32 takes
// without hashing it first.
const hmacBlockSize = 64

// hkdf32 is HKDF-SHA256 (RFC 5869) with a 32-byte output, written out for
// the hot path of Seal and Open: two HMAC-SHA256 computations over stack
// buffers, with no allocation. salt must be at most 64 bytes, info at most
// maxInfo bytes and secret at most maxInfo+32 bytes (longer input panics);
// tests check it against crypto/hkdf.
func hkdf32(secret, salt, info []byte) [32]byte {
	if len(salt) > hmacBlockSize || len(info) > maxInfo || len(secret) > maxInfo+32 {
		panic("envelope: hkdf32 input too long")
	}
	prk := hmacSHA256(salt, secret) // extract
	var t [maxInfo + 1]byte         // expand, one block: T(1) = HMAC(PRK, info || 0x01)
	n := copy(t[:], info)
	t[n] = 1
	okm := hmacSHA256(prk[:], t[:n+1])
	clear(prk[:])
	return okm
}

// maxInfo bounds hkdf32's info.
const maxInfo = 128

// hmacSHA256 is RFC 2104 HMAC with SHA-256 for keys of at most one block
// and messages of at most maxInfo+32 bytes.
func hmacSHA256(key, msg []byte) [32]byte {
	var buf [hmacBlockSize + maxInfo + 32]byte
	if len(key) > hmacBlockSize || len(msg) > len(buf)-hmacBlockSize {
		panic("envelope: hmacSHA256 input too long")
	}
	var pad [hmacBlockSize]byte
	copy(pad[:], key)
	for i := range pad {
		buf[i] = pad[i] ^ 0x36
	}
	n := copy(buf[hmacBlockSize:], msg)
	inner := sha256.Sum256(buf[:hmacBlockSize+n])
	for i := range pad {
		buf[i] = pad[i] ^ 0x5c
	}
	copy(buf[hmacBlockSize:], inner[:])
	out := sha256.Sum256(buf[:hmacBlockSize+32])
	clear(buf[:])
	clear(pad[:])
	return out
}

// newGCM returns AES-256-GCM under key, which must be 32 bytes: no other
// AES key size is ever used.
func newGCM(key []byte) (cipher.AEAD, error) {
	if len(key) != 32 {
		return nil, aes.KeySizeError(len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealGCM appends AES-256-GCM(key, iv, plaintext, aad) = ciphertext || tag
// to dst. A wrong key or IV length is a programmer error and panics.
func sealGCM(dst, key, iv, plaintext, aad []byte) []byte {
	g, err := newGCM(key)
	if err != nil || len(iv) != g.NonceSize() {
		panic("envelope: bad AES-256-GCM key or IV length")
	}
	return g.Seal(dst, iv, plaintext, aad)
}

// openGCM authenticates and decrypts ciphertext || tag. Any failure, wrong
// lengths included, is ErrDecrypt; it never panics, and nothing of a failed
// plaintext is returned (crypto/cipher clears its output on failure).
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
