// Package message is the format of kmsd's envelope-encrypted messages: data
// of any size encrypted under a data key that kmsd generated and wrapped,
// in one self-describing stream. It is pure cryptography (the standard
// library and the envelope package); the encrypt package is the client
// that asks kmsd for data keys and uses this package. Applications
// normally use encrypt, not this package.
//
// # Use
//
// To write a message, get a data key from kmsd (GenerateDataKey: the
// 32-byte plaintext key and its CiphertextBlob), pick a random message id
// and write:
//
//	w, err := message.NewWriter(dst, dataKey, message.Header{MessageID: id,
//	        FrameSize: message.DefaultFrameSize, KeyID: keyARN,
//	        EncryptionContext: ec, WrappedKey: blob})
//	_, err = io.Copy(w, src)
//	err = w.Close() // writes the final frame; dst is not closed
//
// To read one, parse the header (it names the wrapped key and the context
// to give kmsd's Decrypt), unwrap the data key, then read:
//
//	h, err := message.ReadHeader(src)
//	dataKey := kmsDecrypt(h.WrappedKey, h.EncryptionContext)
//	r, err := message.NewReader(src, h, dataKey)
//	_, err = io.Copy(dst, r)
//
// # Guarantees
//
//   - Each message has its own AES-256 key, derived from the data key and
//     the random message id, so a data key may be reused for many messages
//     (the encrypt package's cache does so) without ever repeating a
//     (key, nonce) pair.
//   - Key commitment: the header carries a commitment to the data key, and
//     NewReader checks it, in constant time, before anything is decrypted.
//     No message decrypts under two different data keys.
//   - The whole header is authenticated before any frame is read.
//   - The body is split into frames of at most FrameSize bytes, each
//     authenticated on its own with its sequence number and kind (regular
//     or final) in the nonce and additional data. Frames cannot be
//     reordered, dropped, duplicated, truncated or moved between messages
//     undetected; a message that stops before its final frame, or has
//     bytes after it, fails at the end with ErrDecrypt, never a silent
//     io.EOF.
//   - Reader never returns plaintext of a frame that did not authenticate:
//     each frame is checked whole before any of it is released (the final
//     frame also only once the input is known to end there). Memory is one
//     frame, whatever the size of the message. From a source that hands
//     out its bytes without copying (a Next(n) []byte method, as
//     bytes.Buffer has) frames are decrypted straight from its memory.
//   - Every failure to read a message (malformed, truncated, tampered, the
//     wrong data key) is the one error envelope.ErrDecrypt. Errors of the
//     underlying reader other than the end of its input say nothing about
//     the message and are returned as they are. Lengths and fields are
//     checked before any cipher is called; no input panics.
//
// # Format (version 1)
//
// All integers are big-endian, sizes in bytes. The header:
//
//	offset      size field
//	0           4    magic          "KMSE"
//	4           1    version        0x01
//	5           1    suite          0x01 = AES-256-GCM, keys from HKDF-SHA256, key commitment
//	6           32   message id     random, fresh for every message
//	38          4    frame size     plaintext bytes per frame, 1 .. MaxFrameSize (4 MiB)
//	42          2    k              length of the key id, 1 .. MaxKeyIDBytes (2048)
//	44          k    key id         UTF-8: the key kmsd generated the data key under (its ARN)
//	44+k        2    c              length of the context encoding, 0 .. 65535
//	46+k        c    context        envelope.EncodeContext of the encryption context (nothing when empty)
//	46+k+c      2    w              length of the wrapped key, 1 .. MaxWrappedKeyBytes (4096)
//	48+k+c      w    wrapped key    the data key's CiphertextBlob from kmsd
//	48+k+c+w    32   commitment     see Keys
//	80+k+c+w    16   header tag     AES-256-GCM(K, nonce(0), plaintext = "", aad = bytes 0 .. 80+k+c+w)
//
// The header is 96+k+c+w bytes. The body is a sequence of frames. A
// regular frame carries exactly frame-size bytes of plaintext:
//
//	seq(4) || AES-256-GCM ciphertext(frame size) || tag(16)
//
// and the last frame, always present (empty for an empty message, and
// when the plaintext is a multiple of the frame size), 0 .. frame size
// bytes:
//
//	0xFFFFFFFF(4) || seq(4) || length(4) || ciphertext(length) || tag(16)
//
// Sequence numbers start at 1 and go up by one; a regular frame's is
// below 0xFFFFFFFF, so a message holds at most 2^32-1 frames. Frame seq is
// encrypted with
//
//	nonce(seq) = 0x00 * 8 || seq(4)
//	aad        = message id(32) || kind(1) || seq(4) || length(8)
//
// where kind is 0x01 for a regular frame and 0x02 for the final frame, and
// length is the frame's plaintext length. The header tag uses nonce(0),
// which no frame uses. Nothing follows the final frame.
//
// # Keys
//
//	K          = HKDF-SHA256(secret = data key, salt = message id,
//	                         info = "kmsd/v1/message/key" || version || suite, 32 bytes)
//	commitment = HKDF-SHA256(secret = data key, salt = message id,
//	                         info = "kmsd/v1/message/commit" || version || suite, 32 bytes)
//
// The data key is exactly 32 bytes (kmsd's AES_256 key spec). K encrypts
// this one message only, so its nonces never repeat; the commitment is
// public and reveals nothing of the data key.
//
// # Compatibility
//
// The magic, version and suite bytes version the format. This layout, the
// HKDF labels, the nonce and AAD construction and the context encoding
// are frozen by known-answer tests; a new layout or suite gets new byte
// values and its own known answers, and input this version does not know
// fails with ErrDecrypt.
package message
