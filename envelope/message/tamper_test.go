package message

import (
	"bytes"
	"testing"

	"github.com/kmsd/kmsd/envelope"
)

// tamperFixture is a message of three regular frames and a final frame of
// five bytes, with the offsets of its frames.
type tamperFixture struct {
	pt, msg []byte
	frames  [][2]int // start, end of each frame in msg
}

const tfs = 16

func newTamperFixture(t *testing.T) tamperFixture {
	pt := pattern(3*tfs + 5)
	h := testHeader(tfs, 1)
	msg := seal(t, testKey(3), h, pt, 0)
	var f tamperFixture
	f.pt, f.msg = pt, msg
	off := h.Size()
	for range 3 {
		f.frames = append(f.frames, [2]int{off, off + 4 + tfs + tagSize})
		off += 4 + tfs + tagSize
	}
	f.frames = append(f.frames, [2]int{off, len(msg)})
	if off+12+5+tagSize != len(msg) {
		t.Fatalf("fixture layout: final frame at %d, message %d bytes", off, len(msg))
	}
	return f
}

func (f tamperFixture) frame(i int) []byte { return f.msg[f.frames[i][0]:f.frames[i][1]] }

// mustFail checks that msg fails with ErrDecrypt and that what was
// released before the failure is a prefix of whole frames of the
// plaintext, none from frame bad (the first altered frame) on.
func mustFail(t *testing.T, name string, f tamperFixture, msg []byte, bad int) {
	t.Helper()
	for _, small := range []bool{false, true} {
		for _, buffer := range []bool{false, true} {
			got, err := open(msg, testKey(3), small, buffer)
			if err != envelope.ErrDecrypt {
				t.Fatalf("%s (small reads %v, buffer %v): err = %v, want ErrDecrypt", name, small, buffer, err)
			}
			if len(got)%tfs != 0 || len(got) > bad*tfs || !bytes.Equal(got, f.pt[:len(got)]) {
				t.Fatalf("%s (buffer %v): released %d bytes before failing; frames from %d on are not authentic", name, buffer, len(got), bad)
			}
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestBitFlips(t *testing.T) {
	f := newTamperFixture(t)
	for i := range f.msg {
		for _, bit := range []byte{0x01, 0x80} {
			m := bytes.Clone(f.msg)
			m[i] ^= bit
			bad := 0
			for j, fr := range f.frames {
				if i >= fr[0] && i < fr[1] {
					bad = j
				}
			}
			mustFail(t, "flip", f, m, bad)
		}
	}
}

func TestTruncation(t *testing.T) {
	f := newTamperFixture(t)
	for n := range len(f.msg) {
		bad := 0
		for j, fr := range f.frames {
			if n >= fr[0] && n < fr[1] {
				bad = j
			}
		}
		mustFail(t, "truncated", f, f.msg[:n], bad)
	}
}

func TestFrameSurgery(t *testing.T) {
	f := newTamperFixture(t)
	head := f.msg[:f.frames[0][0]]
	other := seal(t, testKey(3), testHeader(tfs, 1), pattern(3*tfs+5), 0) // same key and message id
	otherID := seal(t, testKey(3), testHeader(tfs, 2), bytes.Repeat([]byte{1}, 3*tfs+5), 0)
	f2 := tamperFixture{msg: otherID, frames: f.frames}
	for _, c := range []struct {
		name string
		msg  []byte
		bad  int
	}{
		{"swap frames 1 and 2", cat(head, f.frame(1), f.frame(0), f.frame(2), f.frame(3)), 0},
		{"swap frames 2 and 3", cat(head, f.frame(0), f.frame(2), f.frame(1), f.frame(3)), 1},
		{"drop frame 2", cat(head, f.frame(0), f.frame(2), f.frame(3)), 1},
		{"duplicate frame 1", cat(head, f.frame(0), f.frame(0), f.frame(1), f.frame(2), f.frame(3)), 1},
		{"drop the final frame", cat(head, f.frame(0), f.frame(1), f.frame(2)), 3},
		{"final frame early", cat(head, f.frame(0), f.frame(3)), 1},
		{"trailing byte", cat(f.msg, []byte{0}), 3},
		{"two messages", cat(f.msg, other), 3},
		{"frame of another message", cat(head, f.frame(0), f2.frame(1), f.frame(2), f.frame(3)), 1},
		{"final frame of another message", cat(head, f.frame(0), f.frame(1), f.frame(2), f2.frame(3)), 3},
		{"header of another message", cat(otherID[:len(head)], f.frame(0), f.frame(1), f.frame(2), f.frame(3)), 0},
		{"no frames", head, 0},
	} {
		mustFail(t, c.name, f, c.msg, c.bad)
	}
	// The same key, message id and plaintext give the same bytes: the
	// format is deterministic given its inputs (the KATs rely on it).
	if !bytes.Equal(other, f.msg) {
		t.Fatal("same inputs, different messages")
	}
}

// A final frame whose length field says more than the frame size is
// refused before any cipher call.
func TestFinalLengthBounds(t *testing.T) {
	f := newTamperFixture(t)
	m := bytes.Clone(f.msg)
	fin := f.frames[3][0]
	m[fin+8], m[fin+9], m[fin+10], m[fin+11] = 0xFF, 0xFF, 0xFF, 0xFF
	mustFail(t, "huge final length", f, m, 3)
}
