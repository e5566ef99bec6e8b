package envelope

import (
	"fmt"
	"io"
)

// Wrapped bytes: like a wrapped key, for secrets of other lengths (an RSA
// import private key): format(1) = 0x02 || IV(12) || AES-256-GCM(root, IV,
// secret, aad). The format byte differs from a wrapped key's, so neither
// parses as the other.
const (
	wrapBytesFormat = 0x02
	// MaxWrapBytes bounds the secret WrapBytes takes.
	MaxWrapBytes = 16 << 10
)

// WrapBytes seals secret (at most MaxWrapBytes bytes) under the root key
// for storage; aad binds it to its place.
func WrapBytes(rand io.Reader, root Key, secret, aad []byte) ([]byte, error) {
	root.must()
	if len(secret) > MaxWrapBytes {
		return nil, fmt.Errorf("envelope: a secret of %d bytes is longer than the %d WrapBytes takes", len(secret), MaxWrapBytes)
	}
	out := make([]byte, 1+ivSize, 1+ivSize+len(secret)+tagSize)
	out[0] = wrapBytesFormat
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("envelope: read IV: %w", err)
	}
	return sealGCM(out, root.b[:], out[1:], secret, aad), nil
}

// UnwrapBytes reverses WrapBytes. Any failure is ErrDecrypt.
func UnwrapBytes(root Key, wrapped, aad []byte) ([]byte, error) {
	root.must()
	if len(wrapped) < 1+ivSize+tagSize || len(wrapped) > 1+ivSize+MaxWrapBytes+tagSize || wrapped[0] != wrapBytesFormat {
		return nil, ErrDecrypt
	}
	return openGCM(root.b[:], wrapped[1:1+ivSize], wrapped[1+ivSize:], aad)
}
