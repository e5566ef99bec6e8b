package envelope

import (
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // RSAES_OAEP_SHA_1, offered for compatibility with AWS KMS
	_ "crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
)

// Wrapping algorithms for imported key material, spelled as AWS KMS.
const (
	WrapRSAESOAEPSHA1       = "RSAES_OAEP_SHA_1"
	WrapRSAESOAEPSHA256     = "RSAES_OAEP_SHA_256"
	WrapRSAAESKeyWrapSHA256 = "RSA_AES_KEY_WRAP_SHA_256"
)

// wrappingKeyBits maps the AWS wrapping key specs to RSA sizes.
var wrappingKeyBits = map[string]int{"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}

// GenerateWrappingKey makes the RSA key pair a client wraps key material
// for: spec is RSA_2048, RSA_3072 or RSA_4096, else the error wraps
// ErrUnsupportedWrapping. (Since Go 1.26 crypto/rsa draws key generation
// randomness from crypto/rand whatever rand is.)
func GenerateWrappingKey(rand io.Reader, spec string) (*rsa.PrivateKey, error) {
	bits, ok := wrappingKeyBits[spec]
	if !ok {
		return nil, fmt.Errorf("%w: key spec %q", ErrUnsupportedWrapping, spec)
	}
	return rsa.GenerateKey(rand, bits)
}

// oaepHash returns the hash of an OAEP-based algorithm.
func oaepHash(algorithm string) (crypto.Hash, bool) {
	switch algorithm {
	case WrapRSAESOAEPSHA1:
		return crypto.SHA1, true
	case WrapRSAESOAEPSHA256, WrapRSAAESKeyWrapSHA256:
		return crypto.SHA256, true
	}
	return 0, false
}

// oaepDecrypt is RSAES-OAEP decryption with hash for both the digest and
// MGF1 and an empty label, the only label AWS KMS clients use. It is the one
// RSA decryption of an import; the Wycheproof tests run through it.
func oaepDecrypt(priv *rsa.PrivateKey, hash crypto.Hash, ct []byte) ([]byte, error) {
	return rsa.DecryptOAEP(hash.New(), nil, priv, ct, nil)
}

// kwpMaterialSize is the length of 32 bytes of material wrapped with
// AES-KWP: the 8-byte integrity block and four 8-byte blocks, no padding.
const kwpMaterialSize = 8 + 32

// UnwrapImportedKey decrypts 32 bytes of key material that a client
// wrapped for import with the public half of priv. For RSAES_OAEP_SHA_1
// and RSAES_OAEP_SHA_256 the material is OAEP-encrypted directly; for
// RSA_AES_KEY_WRAP_SHA_256 the input is OAEP-SHA256 of a fresh AES-256 key
// (the modulus length) followed by the material wrapped under that key
// with AES-KWP (RFC 5649). Every failure is ErrInvalidWrappedKey.
func UnwrapImportedKey(priv *rsa.PrivateKey, algorithm string, wrapped []byte) (Key, error) {
	hash, ok := oaepHash(algorithm)
	if !ok || priv == nil {
		return Key{}, ErrInvalidWrappedKey
	}
	if algorithm == WrapRSAAESKeyWrapSHA256 {
		return unwrapRSAKWP(priv, wrapped)
	}
	pt, err := oaepDecrypt(priv, hash, wrapped)
	defer clear(pt)
	if err != nil || len(pt) != 32 {
		return Key{}, ErrInvalidWrappedKey
	}
	return newKey([32]byte(pt)), nil
}

// unwrapRSAKWP is RSA_AES_KEY_WRAP_SHA_256. Whether or not the RSA part
// decrypts to an AES-256 key, the AES-KWP part is unwrapped (under an
// all-zero key when it did not) and the outcomes are combined at the end,
// so a failure of either step costs the same work and takes the same path
// up to the one final branch.
func unwrapRSAKWP(priv *rsa.PrivateKey, wrapped []byte) (Key, error) {
	n := priv.Size()
	if len(wrapped) != n+kwpMaterialSize { // public lengths only
		return Key{}, ErrInvalidWrappedKey
	}
	aesKey, err := oaepDecrypt(priv, crypto.SHA256, wrapped[:n])
	defer clear(aesKey)
	// DecryptOAEP returns no plaintext on failure: good is 0 then, and
	// the AES-KWP part is unwrapped under the all-zero key.
	good := subtle.ConstantTimeEq(int32(len(aesKey)), 32)
	var kek [32]byte
	defer clear(kek[:])
	copy(kek[:], aesKey)
	material, kwpErr := KeyUnwrapPad(kek[:], wrapped[n:])
	defer clear(material)
	if err != nil || good != 1 || kwpErr != nil || len(material) != 32 {
		return Key{}, ErrInvalidWrappedKey
	}
	return newKey([32]byte(material)), nil
}

// WrapForImport is the client side of an import: it wraps material with
// the public key from GetParametersForImport as algorithm prescribes, as
// an AWS KMS user does with openssl. It does not check the material's
// length; UnwrapImportedKey accepts only 32 bytes.
func WrapForImport(rand io.Reader, pub *rsa.PublicKey, algorithm string, material []byte) ([]byte, error) {
	hash, ok := oaepHash(algorithm)
	if !ok || pub == nil {
		return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupportedWrapping, algorithm)
	}
	if algorithm != WrapRSAAESKeyWrapSHA256 {
		out, err := rsa.EncryptOAEP(hash.New(), rand, pub, material, nil)
		if err != nil {
			return nil, fmt.Errorf("envelope: wrap for import: %w", err)
		}
		return out, nil
	}
	aesKey := make([]byte, 32)
	defer clear(aesKey)
	if _, err := io.ReadFull(rand, aesKey); err != nil {
		return nil, fmt.Errorf("envelope: read ephemeral AES key: %w", err)
	}
	head, err := rsa.EncryptOAEP(hash.New(), rand, pub, aesKey, nil)
	if err != nil {
		return nil, fmt.Errorf("envelope: wrap for import: %w", err)
	}
	tail, err := KeyWrapPad(aesKey, material)
	if err != nil {
		return nil, fmt.Errorf("envelope: wrap for import: %w", err)
	}
	return append(head, tail...), nil
}
