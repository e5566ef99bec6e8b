package message

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/kmsd/kmsd/envelope"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, DataKeySize) }

func testHeader(frameSize int, id byte) Header {
	h := Header{FrameSize: frameSize, KeyID: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		EncryptionContext: map[string]string{"purpose": "test", "tenant": "a"}, WrappedKey: []byte("wrapped data key")}
	for i := range h.MessageID {
		h.MessageID[i] = id + byte(i)
	}
	return h
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// seal encrypts pt, writing it in chunks of the given size (0: one Write;
// -1: ReadFrom).
func seal(t testing.TB, dk []byte, h Header, pt []byte, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, dk, h)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case chunk == -1:
		if _, err := w.ReadFrom(iotest.OneByteReader(bytes.NewReader(pt))); err != nil {
			t.Fatal(err)
		}
	case chunk == 0:
		if n, err := w.Write(pt); err != nil || n != len(pt) {
			t.Fatal(n, err)
		}
	default:
		for p := pt; len(p) > 0; {
			k := min(chunk, len(p))
			if n, err := w.Write(p[:k]); err != nil || n != k {
				t.Fatal(n, err)
			}
			p = p[k:]
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Write([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v, want ErrClosed", err)
	}
	return out.Bytes()
}

// open decrypts msg, reading it from a bytes.Reader (copied into the
// frame buffer) or, with buffer, from a bytes.Buffer (frames decrypted
// from its memory), and returns what the reader released before failing:
// plaintext taken with one-byte reads (small) or with WriteTo.
func open(msg, dk []byte, small bool, buffer ...bool) ([]byte, error) {
	if len(buffer) > 0 && buffer[0] {
		return openFrom(bytes.NewBuffer(bytes.Clone(msg)), dk, small)
	}
	return openFrom(bytes.NewReader(msg), dk, small)
}

func openFrom(src io.Reader, dk []byte, small bool) ([]byte, error) {
	h, err := ReadHeader(src)
	if err != nil {
		return nil, err
	}
	r, err := NewReader(src, h, dk)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if small {
		_, err = io.Copy(&out, iotest.OneByteReader(r))
	} else {
		_, err = r.WriteTo(&out)
	}
	return out.Bytes(), err
}

func TestRoundTrip(t *testing.T) {
	for _, fs := range []int{1, 7, 4096, 9000} {
		for _, n := range []int{0, 1, fs - 1, fs, fs + 1, 3 * fs, 3*fs + 5, 10000} {
			for _, chunk := range []int{0, -1, 3, 5000} {
				name := fmt.Sprintf("frame=%d/len=%d/chunk=%d", fs, n, chunk)
				t.Run(name, func(t *testing.T) {
					pt := pattern(n)
					h := testHeader(fs, 1)
					msg := seal(t, testKey(9), h, pt, chunk)
					frames := n/fs + 1 // the final frame always exists
					want := h.Size() + n + frames*(4+tagSize) + 8
					if len(msg) != want {
						t.Fatalf("message is %d bytes, want %d", len(msg), want)
					}
					for _, small := range []bool{false, true} {
						for _, buffer := range []bool{false, true} {
							got, err := open(msg, testKey(9), small, buffer)
							if err != nil || !bytes.Equal(got, pt) {
								t.Fatalf("open(small=%v, buffer=%v): %v, %d bytes", small, buffer, err, len(got))
							}
						}
					}
				})
			}
		}
	}
}

func TestReadHeaderFields(t *testing.T) {
	h := testHeader(100, 5)
	msg := seal(t, testKey(1), h, []byte("x"), 0)
	got, err := ReadHeader(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if got.MessageID != h.MessageID || got.FrameSize != 100 || got.KeyID != h.KeyID ||
		!bytes.Equal(got.WrappedKey, h.WrappedKey) || fmt.Sprint(got.EncryptionContext) != fmt.Sprint(h.EncryptionContext) {
		t.Fatalf("ReadHeader = %+v, want %+v", got, h)
	}
	if got.Size() != h.Size() {
		t.Fatalf("Size %d != %d", got.Size(), h.Size())
	}
}

func TestWrongDataKey(t *testing.T) {
	msg := seal(t, testKey(1), testHeader(16, 1), pattern(40), 0)
	if _, err := open(msg, testKey(2), false); err != envelope.ErrDecrypt {
		t.Fatalf("wrong data key: %v, want ErrDecrypt", err)
	}
	if _, err := open(msg, testKey(1)[:31], false); err != envelope.ErrDecrypt {
		t.Fatalf("short data key: %v, want ErrDecrypt", err)
	}
}

func TestWriterRefusesBadHeaders(t *testing.T) {
	long := string(bytes.Repeat([]byte("k"), MaxKeyIDBytes+1))
	for name, mod := range map[string]func(*Header){
		"frame size 0":       func(h *Header) { h.FrameSize = 0 },
		"frame size too big": func(h *Header) { h.FrameSize = MaxFrameSize + 1 },
		"no key id":          func(h *Header) { h.KeyID = "" },
		"long key id":        func(h *Header) { h.KeyID = long },
		"bad UTF-8 key id":   func(h *Header) { h.KeyID = "\xff" },
		"no wrapped key":     func(h *Header) { h.WrappedKey = nil },
		"long wrapped key":   func(h *Header) { h.WrappedKey = make([]byte, MaxWrappedKeyBytes+1) },
		"bad context":        func(h *Header) { h.EncryptionContext = map[string]string{"": "v"} },
	} {
		h := testHeader(16, 1)
		mod(&h)
		var out bytes.Buffer
		if _, err := NewWriter(&out, testKey(1), h); err == nil || out.Len() != 0 {
			t.Errorf("%s: NewWriter = %v, wrote %d bytes; want an error and nothing written", name, err, out.Len())
		}
	}
	if _, err := NewWriter(io.Discard, testKey(1)[:16], testHeader(16, 1)); !errors.Is(err, envelope.ErrInvalidKey) {
		t.Errorf("16-byte data key: %v", err)
	}
}

// errAfter yields n bytes of r, then err.
type errAfter struct {
	r   io.Reader
	n   int
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, e.err
	}
	k, err := e.r.Read(p[:min(len(p), e.n)])
	e.n -= k
	return k, err
}

// An error of the underlying reader is returned as it is (it says nothing
// about the message), wherever it happens, and nothing of the frame being
// read is released.
func TestReadErrorsPassThrough(t *testing.T) {
	f := newTamperFixture(t)
	boom := errors.New("disk on fire")
	for n := range len(f.msg) + 1 {
		src := &errAfter{r: bytes.NewReader(f.msg), n: n, err: boom}
		var got bytes.Buffer
		h, err := ReadHeader(src)
		if err == nil {
			var r *Reader
			if r, err = NewReader(src, h, testKey(3)); err == nil {
				_, err = io.Copy(&got, r)
			}
		}
		if n == len(f.msg) {
			// The whole message, then an error where the end should be.
			if err != boom || !bytes.Equal(got.Bytes(), f.pt[:3*tfs]) {
				t.Fatalf("error after the whole message: %v, %d bytes", err, got.Len())
			}
			continue
		}
		if err != boom {
			t.Fatalf("error after %d bytes: %v, want the reader's error", n, err)
		}
		if got.Len()%tfs != 0 || !bytes.Equal(got.Bytes(), f.pt[:got.Len()]) {
			t.Fatalf("error after %d bytes: released %d bytes", n, got.Len())
		}
	}
}
