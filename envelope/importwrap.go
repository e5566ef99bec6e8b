package envelope

import (
	"crypto"
	"crypto/rsa"
	_ "crypto/sha1" // RSAES_OAEP_SHA_1, offered for compatibility with AWS KMS
	_ "crypto/sha256"
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
// for: spec is RSA_2048, RSA_3072 or RSA_4096.
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
// MGF1.
func oaepDecrypt(priv *rsa.PrivateKey, hash crypto.Hash, ct, label []byte) ([]byte, error) {
	return rsa.DecryptOAEP(hash.New(), nil, priv, ct, label)
}

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
	rsaPart := wrapped
	if algorithm == WrapRSAAESKeyWrapSHA256 {
		if len(wrapped) <= priv.Size() {
			return Key{}, ErrInvalidWrappedKey
		}
		rsaPart = wrapped[:priv.Size()]
	}
	pt, err := oaepDecrypt(priv, hash, rsaPart, nil)
	if err != nil {
		return Key{}, ErrInvalidWrappedKey
	}
	defer clear(pt)
	if algorithm == WrapRSAAESKeyWrapSHA256 {
		if len(pt) != 32 {
			return Key{}, ErrInvalidWrappedKey
		}
		material, err := KeyUnwrapPad(pt, wrapped[priv.Size():])
		if err != nil {
			return Key{}, ErrInvalidWrappedKey
		}
		defer clear(material)
		pt = append(pt[:0], material...)
	}
	k, err := KeyFromBytes(pt)
	if err != nil {
		return Key{}, ErrInvalidWrappedKey
	}
	return k, nil
}

// WrapForImport is the client side of an import: it wraps material with
// the public key from GetParametersForImport as algorithm prescribes.
func WrapForImport(rand io.Reader, pub *rsa.PublicKey, algorithm string, material []byte) ([]byte, error) {
	hash, ok := oaepHash(algorithm)
	if !ok {
		return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupportedWrapping, algorithm)
	}
	if algorithm != WrapRSAAESKeyWrapSHA256 {
		return rsa.EncryptOAEP(hash.New(), rand, pub, material, nil)
	}
	aesKey := make([]byte, 32)
	defer clear(aesKey)
	if _, err := io.ReadFull(rand, aesKey); err != nil {
		return nil, err
	}
	head, err := rsa.EncryptOAEP(hash.New(), rand, pub, aesKey, nil)
	if err != nil {
		return nil, err
	}
	tail, err := KeyWrapPad(aesKey, material)
	if err != nil {
		return nil, err
	}
	return append(head, tail...), nil
}
