package message

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"

	"github.com/kmsd/kmsd/envelope"
)

// Reader decrypts the body of one message. It releases the plaintext of a
// frame only after the whole frame has authenticated, and reports
// io.EOF only after the final frame, when the input ends right after it.
type Reader struct {
	r         io.Reader
	aead      cipher.AEAD
	fp        frameParams
	frameSize int
	// buf is prefix || frame ciphertext and tag; plain is the
	// authenticated plaintext not yet returned (within buf).
	buf   []byte
	plain []byte
	seq   uint32 // of the last frame read
	err   error  // io.EOF after the final frame
}

// NewReader checks that dataKey is the key h commits to and that h is
// authentic, then returns a Reader of the plaintext that follows h in r.
// h must come from ReadHeader on the same r. dataKey may be cleared once
// NewReader returns. Every failure is envelope.ErrDecrypt.
func NewReader(r io.Reader, h *Header, dataKey []byte) (*Reader, error) {
	if len(dataKey) != DataKeySize || h == nil || h.encoded == nil {
		return nil, envelope.ErrDecrypt
	}
	aead, commit, err := messageKeys(dataKey, &h.MessageID)
	if err != nil || !commitmentsEqual(&commit, &h.commitment) {
		return nil, envelope.ErrDecrypt
	}
	nonce := frameNonce(0)
	if _, err := aead.Open(nil, nonce[:], h.tag[:], h.encoded); err != nil {
		return nil, envelope.ErrDecrypt
	}
	rd := &Reader{r: r, aead: aead, frameSize: h.FrameSize, buf: make([]byte, prefix+min(h.FrameSize, smallFrame)+tagSize+1)}
	copy(rd.fp.aad[:], h.MessageID[:])
	return rd, nil
}

// Read returns authenticated plaintext. A message that is truncated,
// reordered, tampered with or followed by other bytes fails with
// envelope.ErrDecrypt; an error of the underlying reader (other than the
// end of its input) is returned as it is. Errors stick.
func (r *Reader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(r.plain) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.err = r.next()
	}
	n := copy(p, r.plain)
	r.plain = r.plain[n:]
	return n, nil
}

// WriteTo writes all the plaintext to w, frame by frame, without an extra
// copy (io.Copy uses it). Nothing of a frame reaches w before the frame
// has authenticated.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.plain) > 0 {
			n, err := w.Write(r.plain)
			total += int64(n)
			r.plain = r.plain[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err == io.EOF {
			return total, nil
		}
		if r.err != nil {
			return total, r.err
		}
		r.err = r.next()
	}
}

// next reads and authenticates one frame into r.plain; io.EOF after the
// final frame, an error of the underlying reader as it is, and
// envelope.ErrDecrypt for a bad message.
func (r *Reader) next() error {
	head := r.buf[prefix-4 : prefix]
	if err := readFull(r.r, head); err != nil {
		return err // at the end: the final frame is missing
	}
	kind, n := kindRegular, r.frameSize
	seq := binary.BigEndian.Uint32(head)
	if seq == finalMarker {
		if err := readFull(r.r, r.buf[4:prefix]); err != nil {
			return err
		}
		kind, seq = kindFinal, binary.BigEndian.Uint32(r.buf[4:])
		if l := binary.BigEndian.Uint32(r.buf[8:]); l <= uint32(r.frameSize) {
			n = int(l)
		} else {
			return envelope.ErrDecrypt
		}
	}
	if seq != r.seq+1 {
		return envelope.ErrDecrypt
	}
	r.buf = grow(r.buf, 0, n, r.frameSize, 1) // one byte more: see below
	var sealed []byte
	if nx, ok := r.r.(nexter); ok {
		// Decrypt straight from the source's memory, without a copy.
		if sealed = nx.Next(n + tagSize); len(sealed) != n+tagSize {
			return envelope.ErrDecrypt
		}
	} else {
		sealed = r.buf[prefix : prefix+n+tagSize]
		if err := readFull(r.r, sealed); err != nil {
			return err
		}
	}
	r.fp.set(kind, seq, n)
	// In place when sealed is in r.buf, else into r.buf.
	pt, err := r.aead.Open(r.buf[prefix:prefix], r.fp.nonce[:], sealed, r.fp.aad[:])
	if err != nil {
		clear(r.buf[prefix : prefix+n+tagSize])
		return envelope.ErrDecrypt
	}
	r.seq = seq
	if kind == kindFinal {
		// Nothing may follow the final frame; check before releasing it.
		one := r.buf[len(r.buf)-1:] // past the longest frame
		if k, err := io.ReadFull(r.r, one); k != 0 || !errors.Is(err, io.EOF) {
			clear(pt)
			if k == 0 && err != nil {
				return err
			}
			return envelope.ErrDecrypt
		}
		r.plain = pt
		return io.EOF
	}
	r.plain = pt
	return nil
}

// nexter is a source that hands out its bytes without copying them, as
// bytes.Buffer does: a Reader decrypts frames straight from it.
type nexter interface{ Next(n int) []byte }

// readFull reads len(b) bytes: the end of the input (too early) is
// envelope.ErrDecrypt, other errors of r are returned as they are.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return envelope.ErrDecrypt
	}
	return err
}
