package envelope

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// ImportToken is what an import token proves: that this service issued
// parameters for importing into KeyID with the wrapping key WrappingKeyID,
// valid until ValidTo. Tokens are sealed (confidential and authenticated)
// under a key derived from the root key.
type ImportToken struct {
	KeyID         KeyID
	WrappingKeyID [16]byte
	Algorithm     string
	Spec          string
	ValidTo       time.Time // second precision, UTC
}

// ImportTokenLifetime is how long an import token is valid: the issuer
// sets ValidTo to its clock plus this, as AWS KMS does.
const ImportTokenLifetime = 24 * time.Hour

const (
	tokenFormat = 0x01
	tokenInfo   = "kmsd/v1/import-token"
	// maxTokenField bounds the algorithm and spec strings.
	maxTokenField = 64
	// tokenFixed is the fixed part of the encoding: key id, wrapping key
	// id, ValidTo and the two length bytes.
	tokenFixed = 16 + 16 + 8 + 2
	// maxTokenSize bounds a sealed token.
	maxTokenSize = 1 + ivSize + tokenFixed + 2*maxTokenField + tagSize
)

// tokenKey derives the token sealing key from the root key.
func tokenKey(root Key) [32]byte {
	return hkdf32(root.b[:], nil, []byte(tokenInfo))
}

// SealImportToken returns the opaque token for t:
// 0x01 || IV(12) || AES-256-GCM(K_tok, IV, encoding, "kmsd/v1/import-token")
// with K_tok = HKDF-SHA256(root, no salt, "kmsd/v1/import-token"); the
// encoding is in the package documentation. ValidTo is kept to the second.
// An algorithm or spec longer than 64 bytes is ErrInvalidImportToken.
func SealImportToken(rand io.Reader, root Key, t ImportToken) ([]byte, error) {
	root.must()
	if len(t.Algorithm) > maxTokenField || len(t.Spec) > maxTokenField {
		return nil, ErrInvalidImportToken
	}
	enc := make([]byte, 0, tokenFixed+len(t.Algorithm)+len(t.Spec))
	enc = append(enc, t.KeyID[:]...)
	enc = append(enc, t.WrappingKeyID[:]...)
	enc = binary.BigEndian.AppendUint64(enc, uint64(t.ValidTo.Unix()))
	enc = append(append(enc, byte(len(t.Algorithm))), t.Algorithm...)
	enc = append(append(enc, byte(len(t.Spec))), t.Spec...)
	out := make([]byte, 1+ivSize, 1+ivSize+len(enc)+tagSize)
	out[0] = tokenFormat
	if _, err := io.ReadFull(rand, out[1:]); err != nil {
		return nil, fmt.Errorf("envelope: read import token IV: %w", err)
	}
	k := tokenKey(root)
	defer clear(k[:])
	return sealGCM(out, k[:], out[1:], enc, []byte(tokenInfo)), nil
}

// OpenImportToken authenticates and decodes a token. It does not check
// expiry: the caller compares ValidTo with its clock. Any failure is
// ErrInvalidImportToken.
func OpenImportToken(root Key, b []byte) (ImportToken, error) {
	root.must()
	if len(b) < 1+ivSize+tagSize || len(b) > maxTokenSize || b[0] != tokenFormat {
		return ImportToken{}, ErrInvalidImportToken
	}
	k := tokenKey(root)
	defer clear(k[:])
	enc, err := openGCM(k[:], b[1:1+ivSize], b[1+ivSize:], []byte(tokenInfo))
	if err != nil {
		return ImportToken{}, ErrInvalidImportToken
	}
	return decodeToken(enc)
}

// decodeToken parses an authenticated encoding; trailing bytes are refused.
func decodeToken(enc []byte) (ImportToken, error) {
	var t ImportToken
	if len(enc) < tokenFixed {
		return t, ErrInvalidImportToken
	}
	copy(t.KeyID[:], enc[:16])
	copy(t.WrappingKeyID[:], enc[16:32])
	t.ValidTo = time.Unix(int64(binary.BigEndian.Uint64(enc[32:40])), 0).UTC()
	rest := enc[40:]
	var ok bool
	if t.Algorithm, rest, ok = readShort(rest); !ok {
		return ImportToken{}, ErrInvalidImportToken
	}
	if t.Spec, rest, ok = readShort(rest); !ok || len(rest) != 0 {
		return ImportToken{}, ErrInvalidImportToken
	}
	return t, nil
}

// readShort reads a string with a one-byte length prefix.
func readShort(b []byte) (string, []byte, bool) {
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, false
	}
	return string(b[1 : 1+int(b[0])]), b[1+int(b[0]):], true
}
