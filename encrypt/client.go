package encrypt

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/envelope/message"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// KMS is the part of kmsd's KeyManagementService this package uses. The
// generated client, kmsv1.NewKeyManagementServiceClient(conn), is one.
type KMS interface {
	GenerateDataKey(ctx context.Context, in *kmsv1.GenerateDataKeyRequest, opts ...grpc.CallOption) (*kmsv1.GenerateDataKeyResponse, error)
	Decrypt(ctx context.Context, in *kmsv1.DecryptRequest, opts ...grpc.CallOption) (*kmsv1.DecryptResponse, error)
}

// Errors of this package. Every failure to decrypt a message (malformed,
// truncated, tampered with, or under another data key) is
// envelope.ErrDecrypt; errors of kmsd's calls are returned wrapped, with
// their gRPC status.
var (
	// ErrContextMismatch: the message's encryption context lacks a pair
	// the caller required. Nothing was decrypted and kmsd was not asked.
	ErrContextMismatch = errors.New("encrypt: the message's encryption context does not hold the required pairs")
	// ErrSizeExceeded: more plaintext was written than the writer was
	// told to expect (WithSize).
	ErrSizeExceeded = errors.New("encrypt: more plaintext than declared with WithSize")
	// ErrBadDataKey: kmsd answered GenerateDataKey or Decrypt with
	// something that is not a 32-byte data key and its wrapped form.
	ErrBadDataKey = errors.New("encrypt: kmsd returned an unusable data key")
)

// Client encrypts and decrypts messages with data keys from kmsd. It is
// safe for concurrent use.
type Client struct {
	kms       KMS
	frameSize int
	grants    []string
	cache     *Cache
	rand      io.Reader
	// decryptKey, when set, is the only key decryption accepts.
	decryptKey string
}

// Option configures a Client.
type Option func(*Client) error

// WithFrameSize sets the plaintext size of a frame (default
// message.DefaultFrameSize, 64 KiB; 1 to message.MaxFrameSize). A reader
// holds one frame in memory.
func WithFrameSize(n int) Option {
	return func(c *Client) error {
		if n < 1 || n > message.MaxFrameSize {
			return fmt.Errorf("encrypt: frame size %d is not between 1 and %d", n, message.MaxFrameSize)
		}
		c.frameSize = n
		return nil
	}
}

// WithGrantTokens passes grant tokens with every call to kmsd.
func WithGrantTokens(tokens ...string) Option {
	return func(c *Client) error { c.grants = append([]string(nil), tokens...); return nil }
}

// WithDecryptKey makes Decrypt and NewDecryptingReader accept only
// messages whose data key is under keyID (a key id, ARN, alias name or
// alias ARN): kmsd is asked to decrypt the data key with this key and
// refuses others (IncorrectKeyException). Without it the message names
// the key, and any key the caller may use is accepted.
func WithDecryptKey(keyID string) Option {
	return func(c *Client) error { c.decryptKey = keyID; return nil }
}

// WithCache makes the Client reuse data keys within the limits of cfg
// (see Caching data keys). Without it every message has its own data key.
func WithCache(cfg CacheConfig) Option {
	return func(c *Client) error {
		cache, err := NewCache(cfg)
		c.cache = cache
		return err
	}
}

// New returns a Client that asks kms for data keys.
func New(kms KMS, opts ...Option) (*Client, error) {
	c := &Client{kms: kms, frameSize: message.DefaultFrameSize, rand: rand.Reader}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// Close forgets every cached data key, clearing its bytes.
func (c *Client) Close() {
	if c.cache != nil {
		c.cache.Clear()
	}
}

// Encrypt encrypts plaintext under a new (or cached) data key of the kmsd
// key keyID (a key id, ARN, alias name or alias ARN), bound to the
// encryption context ec, and returns the message.
func (c *Client) Encrypt(ctx context.Context, keyID string, plaintext []byte, ec map[string]string) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(plaintext) + (len(plaintext)/c.frameSize+1)*(4+16) + 1024)
	w, err := c.NewEncryptingWriter(ctx, &out, keyID, ec, WithSize(int64(len(plaintext))))
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// Decrypt decrypts a message made by Encrypt or an EncryptingWriter. Every
// pair of required must be in the message's encryption context (nil: no
// requirement); kmsd is asked only to decrypt the wrapped data key.
func (c *Client) Decrypt(ctx context.Context, msg []byte, required map[string]string) ([]byte, error) {
	// A bytes.Buffer source: frames are decrypted straight from msg.
	r, err := c.NewDecryptingReader(ctx, bytes.NewBuffer(msg), required)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(len(msg))
	if _, err := r.WriteTo(&out); err != nil {
		clear(out.Bytes())
		return nil, err
	}
	return out.Bytes(), nil
}

// generate returns a data key for a message of size bytes (-1: unknown):
// from the cache when it may, else from kmsd.
func (c *Client) generate(ctx context.Context, keyID string, ec map[string]string, size int64) (dataKey, error) {
	if err := envelope.ValidateContext(ec); err != nil {
		return dataKey{}, err
	}
	var ck string
	if c.cache != nil {
		ck = encryptCacheKey(keyID, ec)
		if dk, ok := c.cache.getEncrypt(ck, size); ok {
			return dk, nil
		}
	}
	resp, err := c.kms.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keyID, EncryptionContext: ec,
		KeySpec: "AES_256", GrantTokens: c.grants})
	if err != nil {
		return dataKey{}, fmt.Errorf("encrypt: GenerateDataKey: %w", err)
	}
	pt := resp.GetPlaintext()
	defer clear(pt)
	if len(pt) != message.DataKeySize || len(resp.GetCiphertextBlob()) == 0 ||
		len(resp.GetCiphertextBlob()) > message.MaxWrappedKeyBytes || resp.GetKeyId() == "" {
		return dataKey{}, ErrBadDataKey
	}
	dk := dataKey{wrapped: resp.GetCiphertextBlob(), keyID: resp.GetKeyId()}
	copy(dk.key[:], pt)
	if c.cache != nil {
		c.cache.putEncrypt(ck, dk, size)
	}
	return dk, nil
}

// unwrap returns the data key of a message header: from the cache when it
// may, else from kmsd's Decrypt.
func (c *Client) unwrap(ctx context.Context, h *message.Header) (dataKey, error) {
	var ck string
	if c.cache != nil {
		ck = decryptCacheKey(h, c.decryptKey)
		if dk, ok := c.cache.getDecrypt(ck); ok {
			return dk, nil
		}
	}
	keyID := h.KeyID
	if c.decryptKey != "" {
		keyID = c.decryptKey
	}
	resp, err := c.kms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: h.WrappedKey, KeyId: keyID,
		EncryptionContext: h.EncryptionContext, GrantTokens: c.grants})
	if err != nil {
		return dataKey{}, fmt.Errorf("encrypt: Decrypt: %w", err)
	}
	pt := resp.GetPlaintext()
	defer clear(pt)
	if len(pt) != message.DataKeySize || resp.GetKeyId() != h.KeyID {
		return dataKey{}, envelope.ErrDecrypt
	}
	dk := dataKey{wrapped: h.WrappedKey, keyID: h.KeyID}
	copy(dk.key[:], pt)
	if c.cache != nil {
		c.cache.putDecrypt(ck, dk)
	}
	return dk, nil
}

// dataKey is a plaintext data key with its wrapped form and the ARN of the
// key that wrapped it. Its holder clears key when done.
type dataKey struct {
	key     [message.DataKeySize]byte
	wrapped []byte
	keyID   string
}

// String never shows the key.
func (dataKey) String() string { return "dataKey[REDACTED]" }

// GoString never shows the key either.
func (dataKey) GoString() string { return "dataKey[REDACTED]" }
