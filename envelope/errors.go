package envelope

import "errors"

// Errors returned by this package.
var (
	// ErrDecrypt is the one error of every failed decryption or unwrap:
	// malformed input, wrong key, wrong encryption context and a bad tag
	// are deliberately indistinguishable.
	ErrDecrypt = errors.New("envelope: decryption failed")
	// ErrInvalidKeyID: the string is not a key id (a UUID).
	ErrInvalidKeyID = errors.New("envelope: invalid key id")
	// ErrInvalidMaterialID: the string is not 64 hex digits.
	ErrInvalidMaterialID = errors.New("envelope: invalid key material id")
	// ErrInvalidKey: key material of the wrong length.
	ErrInvalidKey = errors.New("envelope: key material must be 32 bytes")
	// ErrInvalidContext: an encryption context that breaks the rules in
	// the package documentation, or a malformed encoding of one.
	ErrInvalidContext = errors.New("envelope: invalid encryption context")
	// ErrInsecurePermissions: a root key file that others may read.
	ErrInsecurePermissions = errors.New("envelope: insecure permissions")
	// ErrInvalidWrappedKey is the one error of every failure to unwrap
	// imported key material (RSA-OAEP or AES-KWP): padding, length, key and
	// integrity failures are indistinguishable.
	ErrInvalidWrappedKey = errors.New("envelope: invalid wrapped key material")
	// ErrInvalidImportToken: an import token this service did not issue,
	// or a malformed one.
	ErrInvalidImportToken = errors.New("envelope: invalid import token")
	// ErrUnsupportedWrapping: an unknown wrapping algorithm or key spec.
	ErrUnsupportedWrapping = errors.New("envelope: unsupported wrapping algorithm or key spec")
	// ErrInvalidRootKeyFile: a root key file in the wrong format.
	ErrInvalidRootKeyFile = errors.New("envelope: not a kmsd root key file")
)
