package message

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/kmsd/kmsd/envelope"
)

// ErrClosed: a Write after Close.
var ErrClosed = errors.New("message: write after close")

// prefix is room for the final frame's marker, sequence number and length
// before the plaintext in a Writer's or Reader's buffer.
const prefix = 12

// smallFrame is the plaintext room a Writer or Reader starts with; it
// grows to the frame size only for a message that needs it, so that small
// messages do not pay for large frame buffers.
const smallFrame = 4096

// grow returns buf (prefix || n bytes || room for the tag, and extra
// bytes) with room for at least want bytes of plaintext, keeping its
// first prefix+n bytes.
func grow(buf []byte, n, want, frameSize, extra int) []byte {
	if len(buf) >= prefix+want+tagSize+extra {
		return buf
	}
	nb := make([]byte, prefix+frameSize+tagSize+extra)
	copy(nb, buf[:prefix+n])
	clear(buf)
	return nb
}

// Writer encrypts a stream into one message. It holds at most one frame
// of plaintext; Close writes the final frame.
type Writer struct {
	w         io.Writer
	aead      cipher.AEAD
	fp        frameParams
	frameSize int
	// buf is prefix || plaintext (n bytes pending) || room for the tag.
	buf []byte
	n   int
	seq uint32 // of the last frame written
	err error
}

// NewWriter writes h's header to w (the commitment and header tag
// computed from dataKey) and returns a Writer for the body. dataKey must
// be DataKeySize bytes; h.MessageID must be random and never reused with
// the same data key (the encrypt package draws it from crypto/rand).
// dataKey may be cleared once NewWriter returns.
func NewWriter(w io.Writer, dataKey []byte, h Header) (*Writer, error) {
	if len(dataKey) != DataKeySize {
		return nil, envelope.ErrInvalidKey
	}
	aead, commit, err := messageKeys(dataKey, &h.MessageID)
	if err != nil {
		return nil, err
	}
	hb, err := h.encode(&commit)
	if err != nil {
		return nil, err
	}
	nonce := frameNonce(0)
	hb = aead.Seal(hb, nonce[:], nil, hb)
	if _, err := w.Write(hb); err != nil {
		return nil, err
	}
	wr := &Writer{w: w, aead: aead, frameSize: h.FrameSize, buf: make([]byte, prefix+min(h.FrameSize, smallFrame)+tagSize)}
	copy(wr.fp.aad[:], h.MessageID[:])
	return wr, nil
}

// Write encrypts p. Full frames are written as they fill; the rest waits
// for more data or Close.
func (w *Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.err != nil {
			return written, w.err
		}
		if w.n == 0 && len(p) >= w.frameSize {
			// A whole frame straight from p, without copying it first.
			w.buf = grow(w.buf, 0, w.frameSize, w.frameSize, 0)
			if w.sealRegular(p[:w.frameSize]); w.err != nil {
				return written, w.err
			}
			written, p = written+w.frameSize, p[w.frameSize:]
			continue
		}
		w.buf = grow(w.buf, w.n, min(w.n+len(p), w.frameSize), w.frameSize, 0)
		k := copy(w.buf[prefix+w.n:len(w.buf)-tagSize], p)
		w.n += k
		written, p = written+k, p[k:]
		if w.n == w.frameSize {
			w.sealRegular(w.buf[prefix : prefix+w.n])
		}
	}
	return written, w.err
}

// ReadFrom encrypts everything r holds, reading straight into the frame
// buffer (io.Copy uses it).
func (w *Writer) ReadFrom(r io.Reader) (int64, error) {
	var total int64
	w.buf = grow(w.buf, w.n, w.frameSize, w.frameSize, 0)
	for w.err == nil {
		k, err := r.Read(w.buf[prefix+w.n : prefix+w.frameSize])
		w.n += k
		total += int64(k)
		if w.n == w.frameSize {
			w.sealRegular(w.buf[prefix : prefix+w.n])
		}
		if errors.Is(err, io.EOF) {
			return total, w.err
		}
		if err != nil {
			return total, err
		}
	}
	return total, w.err
}

// sealRegular encrypts and writes one regular frame of plaintext pt
// (which is either w's own pending plaintext or the caller's).
func (w *Writer) sealRegular(pt []byte) {
	if w.seq+1 >= finalMarker {
		w.err = ErrTooLong
		return
	}
	w.seq++
	w.fp.set(kindRegular, w.seq, len(pt))
	binary.BigEndian.PutUint32(w.buf[prefix-4:], w.seq)
	frame := w.aead.Seal(w.buf[prefix:prefix], w.fp.nonce[:], pt, w.fp.aad[:])
	w.n = 0
	if _, err := w.w.Write(w.buf[prefix-4 : prefix+len(frame)]); err != nil {
		w.err = err
	}
}

// Close writes the final frame. It does not close the underlying writer.
// Close after Close does nothing; Write after Close fails with ErrClosed.
func (w *Writer) Close() error {
	if errors.Is(w.err, ErrClosed) {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	w.seq++
	w.fp.set(kindFinal, w.seq, w.n)
	binary.BigEndian.PutUint32(w.buf[0:], finalMarker)
	binary.BigEndian.PutUint32(w.buf[4:], w.seq)
	binary.BigEndian.PutUint32(w.buf[8:], uint32(w.n))
	frame := w.aead.Seal(w.buf[prefix:prefix], w.fp.nonce[:], w.buf[prefix:prefix+w.n], w.fp.aad[:])
	if _, err := w.w.Write(w.buf[:prefix+len(frame)]); err != nil {
		w.err = err
		return fmt.Errorf("message: write final frame: %w", err)
	}
	clear(w.buf)
	w.err = ErrClosed
	return nil
}
