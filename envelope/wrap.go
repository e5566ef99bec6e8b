package envelope

import (
	"fmt"
	"io"
)

// Wrapped key format; see the package documentation.
const (
	wrapFormatV1 byte = 0x01
	// WrappedSize is the length of a wrapped key.
	WrappedSize = 1 + ivSize + 32 + tagSize
)

// WrapKey seals key material k under the root key for storage. aad binds
// the wrapped blob to where it belongs (callers pass the key id and material
// id), so a blob copied onto another key does not unwrap.
func WrapKey(rand io.Reader, root, k Key, aad []byte) ([]byte, error) {
	root.must()
	k.must()
	out := make([]byte, 1+ivSize, WrappedSize)
	out[0] = wrapFormatV1
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("envelope: read IV: %w", err)
	}
	return sealGCM(out, root.b[:], out[1:], k.b[:], aad), nil
}

// UnwrapKey reverses WrapKey. Any failure is ErrDecrypt.
func UnwrapKey(root Key, wrapped, aad []byte) (Key, error) {
	root.must()
	if len(wrapped) != WrappedSize || wrapped[0] != wrapFormatV1 {
		return Key{}, ErrDecrypt
	}
	pt, err := openGCM(root.b[:], wrapped[1:1+ivSize], wrapped[1+ivSize:], aad)
	if err != nil {
		return Key{}, ErrDecrypt
	}
	defer clear(pt)
	return KeyFromBytes(pt)
}
