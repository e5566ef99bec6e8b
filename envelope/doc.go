// Package envelope is kmsd's cryptography: the ciphertext format, the
// derivation of per-message keys, AES-256-GCM, the wrapping of key material
// under the root key, the canonical encoding of encryption contexts and the
// root key file. It imports only the standard library, nothing else of kmsd.
//
// # Use
//
// A customer master key has versions; each version's material is a Key. To
// encrypt, take the newest enabled version:
//
//	blob, err := envelope.Seal(rand.Reader, material, keyID, plaintext, ec)
//
// To decrypt, read the header (no key is needed), find the version it names,
// then open:
//
//	h, err := envelope.ParseHeader(blob) // h.KeyID, h.MaterialID
//	material := lookup(h.KeyID, h.MaterialID)
//	plaintext, err := envelope.Open(material, blob, ec)
//
// Material is stored only wrapped under the root key (WrapKey, UnwrapKey);
// the root key comes from a file (ReadRootKeyFile) or another source.
// Customers may also import material of their own (see Importing key
// material).
//
// # Guarantees
//
//   - Seal output is authenticated: Open accepts only ciphertexts that Seal
//     made with the same key material, key id and encryption context.
//   - Every failure to decrypt or unwrap is the single error ErrDecrypt (see
//     Errors); for imported material it is ErrInvalidWrappedKey and for
//     import tokens ErrInvalidImportToken, each one value likewise. No function panics on input an attacker controls: lengths and
//     framing are checked before any cipher is called.
//   - Salts and IVs are drawn by Seal and WrapKey from the reader they are
//     given (crypto/rand.Reader in production); callers cannot supply them.
//   - Key material lives in Key values that print as "[REDACTED]"
//     (fmt verbs, JSON, text, slog); Key.Bytes is the one way to the bytes.
//     The zero Key is not a key: using it panics. Go cannot promise that
//     copies are wiped from memory; buffers this package owns are cleared
//     when it is done with them, on a best-effort basis.
//
// # Ciphertext format (version 1)
//
// All integers are big-endian; sizes in bytes.
//
//	offset size field
//	0      1    format      0x01
//	1      1    algorithm   0x01 = AES-256-GCM, per-message key from HKDF-SHA256
//	2      16   key id      the customer master key (UUID bytes)
//	18     32   material id SHA-256("kmsd/v1/material-id" || version material)
//	50     32   salt        random, fresh for every message
//	82     12   IV          random, fresh for every message
//	94     n    ciphertext  AES-256-GCM
//	94+n   16   tag         AES-GCM tag
//
// The header is 94 bytes (HeaderSize) and the overhead 110 (Overhead): a
// 32-byte data key becomes a 142-byte ciphertext. The message key is
//
//	K = HKDF-SHA256(secret = version material, salt = salt,
//	                info = "kmsd/v1/enc" || key id || material id, length 32)
//
// and the additional authenticated data is the whole 94-byte header
// followed by the canonical encoding of the encryption context (nothing
// more when the context is empty). Every header byte, the format and
// algorithm included, is therefore authenticated; changing any of them, or
// the context, makes Open fail. The material id is a public commitment to
// the material (AWS KMS's KeyMaterialId); it names the version to decrypt
// with and reveals nothing of the material.
//
// # Nonce policy
//
// AES-GCM with random 96-bit IVs is safe for about 2^32 messages per key
// (NIST SP 800-38D): beyond that an IV repeats with non-negligible
// probability, and a repeated (key, IV) pair reveals the XOR of two
// plaintexts and the authentication key. kmsd never encrypts under a
// version's material directly. Each message has its own AES key, derived
// with HKDF from the material and a 256-bit random salt, and that key
// encrypts that one message only. Two messages share an AES key only if
// they share a salt: after N messages under one version the probability is
// about N²/2^257, below 2^-128 even for N = 2^64. So the 2^32 bound applies
// per derived key, that is per message, and is never approached; no
// per-version message counter or forced rotation is needed for nonce
// safety (rotation stays a policy choice). The random IV is kept: a nonce
// would repeat only if salt and IV both repeated. The price is one HKDF
// (two HMAC-SHA256 computations) per message.
//
// The root key, by contrast, is used directly: WrapKey encrypts with a
// random IV under it, once per key version, far below the bound.
//
// # Encryption context encoding
//
// An empty (or nil) context encodes as zero bytes. Otherwise:
//
//	count(2) || for each pair, sorted by key bytes:
//	    len(key)(2) || key || len(value)(2) || value
//
// Length prefixes make the encoding injective: {"ab":"c"} and {"a":"bc"}
// differ. The rules: keys are non-empty, keys and values are valid UTF-8,
// and all keys and values together are at most MaxContextBytes (8192, the
// AWS KMS limit) bytes, which also bounds the count (at most 8192 pairs)
// and every length, so they fit their 16-bit fields. EncodeContext and
// ValidateContext refuse other contexts with ErrInvalidContext.
// DecodeContext accepts only canonical encodings: keys strictly ascending
// (so no duplicates), no trailing bytes, no zero count.
//
// # Wrapped key format
//
// Key material at rest and in the replicated log is always wrapped under
// the root key:
//
//	format(1) = 0x01 || IV(12) || AES-256-GCM(root key, IV, material, aad)(32+16)
//
// 61 bytes in all (WrappedSize). The caller's aad binds the blob to its
// place (kmsd passes "kmsd/v1/wrap" || key id || material id), so a wrapped
// blob copied onto another key or version does not unwrap.
//
// Secrets of other lengths (the PKCS#8 private half of an import wrapping
// key) are wrapped the same way with their own format byte, so that a
// wrapped key and wrapped bytes never parse as each other (WrapBytes,
// UnwrapBytes; at most MaxWrapBytes = 16 KiB of secret):
//
//	format(1) = 0x02 || IV(12) || AES-256-GCM(root key, IV, secret, aad)(n+16)
//
// # Importing key material
//
// A customer can bring its own 32 bytes of material (AWS KMS's
// GetParametersForImport and ImportKeyMaterial). The service makes an RSA
// wrapping key pair (GenerateWrappingKey: RSA_2048, RSA_3072 or RSA_4096),
// stores its private half with WrapBytes and hands out the public half and
// an import token. The client wraps the material (WrapForImport is what it
// does with openssl) with one of three algorithms, spelled as AWS KMS:
//
//   - RSAES_OAEP_SHA_256: RSA-OAEP, SHA-256 for the digest and MGF1, empty
//     label; the input is exactly the modulus length.
//   - RSAES_OAEP_SHA_1: the same with SHA-1. It is offered only for
//     compatibility with AWS KMS clients; OAEP's security does not rest on
//     SHA-1's collision resistance, but prefer SHA-256.
//   - RSA_AES_KEY_WRAP_SHA_256: RSA-OAEP-SHA-256 of a fresh 32-byte AES key
//     (the modulus length) followed by the material wrapped under that key
//     with AES Key Wrap with Padding (RFC 5649: AES-KWP, KeyWrapPad), 40
//     bytes for 32 bytes of material.
//
// UnwrapImportedKey accepts exactly 32 bytes of material.
//
// An import token binds the import to its key and wrapping key:
//
//	token = 0x01 || IV(12) || AES-256-GCM(K_tok, IV, encoding, "kmsd/v1/import-token")
//	K_tok = HKDF-SHA256(secret = root key, no salt, info = "kmsd/v1/import-token", 32)
//	encoding = key id(16) || wrapping key id(16) || ValidTo(8, Unix seconds)
//	           || len(algorithm)(1) || algorithm || len(spec)(1) || spec
//
// The root key never encrypts tokens directly. A token is confidential and
// authenticated; it is valid for ImportTokenLifetime (24 hours) after it is
// issued, to the second. OpenImportToken checks authenticity and format
// only (ErrInvalidImportToken); comparing ValidTo with the clock, and the
// key id with the key being imported into, is the caller's job.
//
// Every failure to unwrap imported material is the single value
// ErrInvalidWrappedKey: bad OAEP padding, a wrong length, the wrong key
// pair, an AES-KWP integrity failure, material that is not 32 bytes and an
// unknown algorithm alike. For RSA_AES_KEY_WRAP_SHA_256 the AES-KWP step
// runs whether or not the RSA step succeeded, and the AES-KWP checks are
// combined without branching on secret data, so failures of the two steps
// differ in neither the error nor the work done. KeyUnwrapPad on its own
// also fails with ErrInvalidWrappedKey.
//
// # Root key file
//
// One line: "kmsd-root-key-v1:" || base64(32 bytes) || "\n" (standard
// base64 with padding), mode 0600. WriteRootKeyFile never overwrites a
// file and makes the file and its directory entry durable.
// ReadRootKeyFile refuses files that are not regular files, that group or
// others may access, or (on Unix) that another user owns; the message
// names the path and mode and says how to fix it. RootKeyFingerprint,
// hex(HMAC-SHA256(root, "kmsd/v1/root-key-check")[:16]), is a public check
// value so that a server can refuse to start with a root key other than
// the one its data was made with.
//
// # Errors
//
// Decryption failures are opaque. Open, UnwrapKey, UnwrapBytes and
// ParseHeader return exactly ErrDecrypt, unwrapped and without detail, whether the input was
// truncated, of an unknown format, made under other material, tampered
// with, or given the wrong encryption context (an invalid context given to
// Open is ErrDecrypt too). Say nothing more to clients: every distinction
// is an oracle. Mistakes of the caller or operator that involve no secret
// (an invalid context given to Seal, a bad key id string, a root key file
// with loose permissions) have their own errors with explanations.
//
// # Compatibility
//
// The format and algorithm bytes version the ciphertext, and the format
// bytes version the wrapped key, wrapped bytes and the import token; the
// prefix versions the root key file.
// These layouts, the material id, the HKDF info and the context encoding
// (which is part of every ciphertext's AAD) are frozen by known-answer
// tests. A new layout or algorithm gets a new byte value and its own
// known answers; every format ever written stays readable, and input of a
// format this version does not know fails with ErrDecrypt, never a guess.
package envelope
