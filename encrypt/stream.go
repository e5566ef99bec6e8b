package encrypt

import (
	"context"
	"fmt"
	"io"
	"maps"

	"github.com/kmsd/kmsd/envelope/message"
)

// WriterOption configures an EncryptingWriter.
type WriterOption func(*writerOptions)

type writerOptions struct{ size int64 }

// WithSize declares how many bytes of plaintext will be written. A cache
// with a byte limit (CacheConfig.MaxBytes) reuses data keys only for
// messages of declared size; writing more than declared fails with
// ErrSizeExceeded.
func WithSize(n int64) WriterOption { return func(o *writerOptions) { o.size = n } }

// EncryptingWriter encrypts what is written to it into one message. It
// holds one frame of plaintext; Close writes the rest and must be called.
type EncryptingWriter struct {
	w     *message.Writer
	limit int64 // -1: none
	n     int64
	keyID string
	err   error // ErrSizeExceeded, once it happened
}

// NewEncryptingWriter gets a data key for keyID and ec (from kmsd or the
// cache), writes the message header to dst and returns a writer of the
// body. Close does not close dst.
func (c *Client) NewEncryptingWriter(ctx context.Context, dst io.Writer, keyID string, ec map[string]string, opts ...WriterOption) (*EncryptingWriter, error) {
	o := writerOptions{size: -1}
	for _, f := range opts {
		f(&o)
	}
	if o.size < -1 {
		return nil, fmt.Errorf("encrypt: negative size %d", o.size)
	}
	dk, err := c.generate(ctx, keyID, ec, o.size)
	if err != nil {
		return nil, err
	}
	defer clear(dk.key[:])
	h := message.Header{FrameSize: c.frameSize, KeyID: dk.keyID, EncryptionContext: ec, WrappedKey: dk.wrapped}
	if _, err := io.ReadFull(c.rand, h.MessageID[:]); err != nil {
		return nil, fmt.Errorf("encrypt: message id: %w", err)
	}
	w, err := message.NewWriter(dst, dk.key[:], h)
	if err != nil {
		return nil, err
	}
	return &EncryptingWriter{w: w, limit: o.size, keyID: dk.keyID}, nil
}

// KeyID is the ARN of the key the message's data key is under.
func (e *EncryptingWriter) KeyID() string { return e.keyID }

// Write encrypts p.
func (e *EncryptingWriter) Write(p []byte) (int, error) {
	if e.err == nil && e.limit >= 0 && int64(len(p)) > e.limit-e.n {
		e.err = ErrSizeExceeded
	}
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.n += int64(n)
	return n, err
}

// ReadFrom encrypts everything r holds (io.Copy uses it).
func (e *EncryptingWriter) ReadFrom(r io.Reader) (int64, error) {
	if e.limit < 0 {
		n, err := e.w.ReadFrom(r)
		e.n += n
		return n, err
	}
	n, err := e.w.ReadFrom(io.LimitReader(r, e.limit-e.n))
	e.n += n
	if err != nil {
		return n, err
	}
	var one [1]byte
	if k, _ := io.ReadFull(r, one[:]); k > 0 {
		e.err = ErrSizeExceeded
		return n, e.err
	}
	return n, nil
}

// Close writes the final frame. The message is complete only once Close
// has returned nil; after ErrSizeExceeded it never is.
func (e *EncryptingWriter) Close() error {
	if e.err != nil {
		return e.err
	}
	return e.w.Close()
}

// DecryptingReader decrypts one message. It returns plaintext only of
// frames that authenticated, and io.EOF only at the end of a whole
// message; a truncated or altered message fails with envelope.ErrDecrypt.
type DecryptingReader struct {
	r *message.Reader
	h *message.Header
}

// NewDecryptingReader reads the message header from src, checks that its
// encryption context holds every pair of required, has kmsd decrypt the
// data key (or takes it from the cache), checks the key commitment and
// the header, and returns a reader of the plaintext. src must hold the
// message and nothing after it.
func (c *Client) NewDecryptingReader(ctx context.Context, src io.Reader, required map[string]string) (*DecryptingReader, error) {
	h, err := message.ReadHeader(src)
	if err != nil {
		return nil, err
	}
	for k, v := range required {
		if got, ok := h.EncryptionContext[k]; !ok || got != v {
			return nil, ErrContextMismatch
		}
	}
	dk, err := c.unwrap(ctx, h)
	if err != nil {
		return nil, err
	}
	defer clear(dk.key[:])
	r, err := message.NewReader(src, h, dk.key[:])
	if err != nil {
		return nil, err
	}
	return &DecryptingReader{r: r, h: h}, nil
}

// Read returns authenticated plaintext.
func (d *DecryptingReader) Read(p []byte) (int, error) { return d.r.Read(p) }

// WriteTo writes all the plaintext to w, frame by frame (io.Copy uses it).
func (d *DecryptingReader) WriteTo(w io.Writer) (int64, error) { return d.r.WriteTo(w) }

// KeyID is the ARN of the key the message's data key is under.
func (d *DecryptingReader) KeyID() string { return d.h.KeyID }

// EncryptionContext is the message's encryption context (a copy).
func (d *DecryptingReader) EncryptionContext() map[string]string {
	return maps.Clone(d.h.EncryptionContext)
}
