package message

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"io"
	"runtime"

	"github.com/kmsd/kmsd/envelope"
)

// Reader decrypts the body of one message. It releases the plaintext of a
// frame only after the whole frame has authenticated, and reports
// io.EOF only after the final frame, when the input ends right after it.
// From the third frame of a message on, it reads its source ahead in a
// goroutine of its own (see aheadSource), so it must be the only reader of
// its source; the goroutine ends with the message, or when the Reader is
// dropped (after its current read).
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
			if a, ok := r.r.(*aheadSource); ok && a.readErr() != nil {
				return a.readErr()
			}
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
	if r.seq == readAheadFrom {
		if _, ok := r.r.(nexter); !ok {
			// A long message from a source that copies: read it ahead,
			// in chunks, while frames are decrypted.
			// Chunks of whole regular frames: a source that fills them
			// (a file, memory) never splits a frame between two.
			frame := 4 + r.frameSize + tagSize
			a := startAhead(r.r, max(1, aheadChunk/frame)*frame)
			runtime.AddCleanup(r, func(stop chan struct{}) { close(stop) }, a.stop)
			r.r = a
		}
	}
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

// Reading ahead. From a source that copies (a file, a network connection),
// a Reader reads the message from its third frame on in a goroutine of its
// own, in chunks, one chunk ahead, and decrypts frames from the chunks'
// memory, so that the source's copy (the kernel's, from a file) runs on
// another core while frames are decrypted. Memory stays two chunks and a
// frame, however long the message. Short messages never start it. A frame
// that a short read splits between two chunks is copied into one.
const (
	readAheadFrom = 2         // frames read before reading ahead
	aheadChunk    = 256 << 10 // about the bytes read at once (at least a frame)
	aheadChunks   = 3         // chunk buffers: read up to three ahead
)

// aheadSource is the Reader's source once it reads ahead: a nexter over
// the chunks its goroutine reads.
type aheadSource struct {
	full chan aheadChunkRead // chunks read, in order
	free chan []byte         // chunk buffers handed back
	// stop is closed when the Reader is dropped before the end of its
	// message: the goroutine then returns after its current read.
	stop    chan struct{}
	cur     []byte // what is left of the current chunk
	held    []byte // the current chunk's buffer, to hand back
	err     error  // the source's error after the last chunk (io.EOF at its end)
	scratch []byte // a frame that spans two chunks
}

type aheadChunkRead struct {
	b   []byte
	err error
}

func startAhead(src io.Reader, size int) *aheadSource {
	a := &aheadSource{full: make(chan aheadChunkRead, aheadChunks), free: make(chan []byte, aheadChunks), stop: make(chan struct{})}
	for range aheadChunks {
		a.free <- make([]byte, size)
	}
	go readAhead(src, a.full, a.free, a.stop)
	return a
}

// readAhead reads src into the free buffers until it fails or ends. It
// does not hold the aheadSource, so that a dropped Reader can be
// collected and stop closed.
func readAhead(src io.Reader, full chan<- aheadChunkRead, free <-chan []byte, stop <-chan struct{}) {
	for {
		var b []byte
		select {
		case b = <-free:
		case <-stop:
			return
		}
		var n int
		var err error
		for n == 0 && err == nil {
			n, err = src.Read(b)
		}
		select {
		case full <- aheadChunkRead{b[:n], err}:
		case <-stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// more makes a.cur non-empty; false at the end of the input or after an
// error of the source.
func (a *aheadSource) more() bool {
	for len(a.cur) == 0 {
		if a.err != nil {
			return false
		}
		if a.held != nil {
			a.free <- a.held // never blocks: a slot for every buffer
			a.held = nil
		}
		c := <-a.full
		a.held, a.cur, a.err = c.b, c.b, c.err
	}
	return true
}

func (a *aheadSource) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if !a.more() {
		return 0, a.err
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	return n, nil
}

// Next returns the next n bytes (fewer at the end of the input), in the
// current chunk's memory when they are all there, valid until the next
// call.
func (a *aheadSource) Next(n int) []byte {
	if len(a.cur) >= n {
		b := a.cur[:n]
		a.cur = a.cur[n:]
		return b
	}
	a.scratch = a.scratch[:0]
	for len(a.scratch) < n && a.more() {
		k := min(n-len(a.scratch), len(a.cur))
		a.scratch = append(a.scratch, a.cur[:k]...)
		a.cur = a.cur[k:]
	}
	return a.scratch
}

// readErr is the source's error, other than its end, once every byte read
// before it has been handed out.
func (a *aheadSource) readErr() error {
	if len(a.cur) == 0 && a.err != nil && !errors.Is(a.err, io.EOF) {
		return a.err
	}
	return nil
}
