// Package encrypt is the envelope-encryption client for applications:
// it encrypts data of any size under a kmsd key with one call, asking
// kmsd only for a data key, and decrypts it asking kmsd only to unwrap
// that key. The data itself never travels to kmsd.
//
// # Use
//
// Dial kmsd with signed calls (see the auth package) and make a Client
// over its KeyManagementService:
//
//	creds, err := auth.FromEnvironment()
//	conn, err := grpc.NewClient("kms.example.com:7400", append(auth.DialOptions(creds),
//	        grpc.WithTransportCredentials(credentials.NewTLS(tlsConfig)))...)
//	client, err := encrypt.New(kmsv1.NewKeyManagementServiceClient(conn))
//
//	msg, err := client.Encrypt(ctx, "alias/payments", plaintext, map[string]string{"order": "1234"})
//	plaintext, err := client.Decrypt(ctx, msg, map[string]string{"order": "1234"})
//
// For files and streams of any size, with one frame (64 KiB by default)
// of memory:
//
//	w, err := client.NewEncryptingWriter(ctx, dst, "alias/payments", ec)
//	_, err = io.Copy(w, src)
//	err = w.Close() // the message is complete only now
//
//	r, err := client.NewDecryptingReader(ctx, src, ec)
//	_, err = io.Copy(dst, r) // an error, never a silent end, if src was cut short or altered
//
// The encryption context is not secret: it is stored in the message, bound
// to the data key by kmsd (its Decrypt requires the same context, and its
// audit log records it) and authenticated by the message. Give Decrypt the
// pairs you expect: a message whose context lacks one fails with
// ErrContextMismatch before kmsd is asked. A message names its key; to
// accept messages under one key only, make the Client WithDecryptKey.
//
// # How it works
//
// Encrypt calls kmsd's GenerateDataKey (AES_256) for a data key, in
// plaintext and wrapped under the kmsd key, and writes one message in the
// format of the envelope/message package: a header with the wrapped data
// key, the key's ARN, the encryption context, the frame size and a
// commitment to the data key, then the data in AES-256-GCM frames under a
// key derived from the data key and a random message id. Decrypt reads
// the header, has kmsd decrypt the wrapped data key (with the key id and
// context from the header), checks the commitment and the header's tag,
// then decrypts frame by frame. The plaintext data key is cleared from
// memory as soon as the message key is derived.
//
// Every failure to decrypt a message (malformed, truncated, frames
// reordered, dropped or duplicated, a flipped bit, another data key) is
// the one error envelope.ErrDecrypt. A DecryptingReader returns the
// plaintext of a frame only once the frame has authenticated, so a
// streaming reader may hand out the first frames of a message whose later
// frames turn out to be bad: treat the output as valid only when the
// reader has returned io.EOF (kmsctl decrypt-file writes to a temporary
// file and renames it only then). Errors of kmsd's calls are returned
// wrapped with their gRPC status (AccessDeniedException,
// NotFoundException, ...).
//
// # Caching data keys
//
// By default every message has its own data key: one GenerateDataKey per
// encryption and one Decrypt per decryption. Like the AWS Encryption
// SDK's caching materials manager, WithCache reuses data keys within
// limits:
//
//	client, err := encrypt.New(kms, encrypt.WithCache(encrypt.CacheConfig{
//	        MaxAge: 5 * time.Minute, MaxMessages: 1000, MaxBytes: 1 << 30}))
//
// A cached data key encrypts at most MaxMessages messages and MaxBytes
// bytes of plaintext, for at most MaxAge after kmsd made it; decrypted
// data keys are kept for MaxAge. A key is reused only for exactly the key
// id and encryption context it was made for (and, when decrypting, the
// same wrapped key), never for another. Reuse is safe for the format:
// each message still has its own AES key, derived with its own random
// message id. The price is fewer calls to kmsd, so fewer audit records and
// less control: a revoked permission or disabled key takes effect on
// cached keys only when they expire. Keys are cleared from memory when
// they leave the cache or the Client is closed (best effort: Go may have
// copied them). The cache belongs to one Client, so a key fetched with one
// set of credentials is never used with another.
//
// # Testing
//
// The encrypttest package is an in-memory stand-in for kmsd's
// GenerateDataKey and Decrypt, for unit tests of applications.
package encrypt
