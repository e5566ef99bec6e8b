// Package envelope is kmsd's cryptography: the ciphertext format, the
// derivation of per-message keys, AES-256-GCM, the wrapping of key material
// under the root key, the canonical encoding of encryption contexts and the
// root key file. It imports nothing else of kmsd.
//
// # Guarantees
//
//   - Seal output is authenticated: Open accepts only ciphertexts that Seal
//     made with the same key material, key id and encryption context.
//   - Every failure to decrypt or unwrap is the single error ErrDecrypt. The
//     package never says whether the framing, the key, the context or the
//     tag was wrong, and never returns a partial plaintext.
//   - Lengths and framing are checked before any cipher is called.
//   - Key material lives in Key values that print as "[REDACTED]"
//     (fmt verbs, JSON, text, slog); Key.Bytes is the one way to the bytes.
//     Go cannot promise that copies are wiped from memory; buffers this
//     package owns are cleared when it is done with them.
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
// The overhead is 110 bytes: a 32-byte data key becomes a 142-byte
// ciphertext. The message key is
//
//	K = HKDF-SHA256(secret = version material, salt = salt,
//	                info = "kmsd/v1/enc" || key id || material id, length 32)
//
// and the additional authenticated data is the whole 94-byte header
// followed by the canonical encoding of the encryption context. Every
// header byte, the format and algorithm included, is therefore
// authenticated; changing any of them, or the context, makes Open fail.
//
// # Nonce policy
//
// AES-GCM with random 96-bit IVs is safe for about 2^32 messages per key.
// kmsd never encrypts under a version's material directly: each message has
// its own key, derived from the material and a 256-bit random salt. A
// derived key is used for one message, so the 2^32 bound applies per
// message, not per key version; a repeated message key would need a repeated
// 256-bit salt. Callers cannot supply the salt or the IV.
//
// # Encryption context encoding
//
// An empty context encodes as zero bytes. Otherwise:
//
//	count(2) || for each pair, sorted by key bytes:
//	    len(key)(2) || key || len(value)(2) || value
//
// Length prefixes make the encoding injective: {"ab":"c"} and {"a":"bc"}
// differ. Keys must be non-empty; keys and values valid UTF-8; all keys and
// values together at most MaxContextBytes (8192) bytes. DecodeContext
// accepts only canonical encodings.
//
// # Wrapped key format
//
// Key material at rest and in the replicated log is always wrapped under
// the root key:
//
//	format(1) = 0x01 || IV(12) || AES-256-GCM(root key, IV, material, aad)(32+16)
//
// 61 bytes in all. The caller's aad binds the blob to its place (kmsd passes
// "kmsd/v1/wrap" || key id || material id), so a wrapped blob copied onto
// another key or version does not unwrap. The root key wraps one blob per
// key version, far below the random-IV bound.
//
// # Root key file
//
// One line: "kmsd-root-key-v1:" || base64(32 bytes) || "\n", mode 0600.
// ReadRootKeyFile refuses files that group or others may access.
// RootKeyFingerprint gives a public check value so that a server can
// refuse to start with a root key other than the one its data was made
// with.
//
// # Compatibility
//
// The format and algorithm bytes version the ciphertext. Every format ever
// written stays readable; known-answer tests freeze each one.
package envelope
