package message

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/kmsd/kmsd/envelope"
)

// randomReads hands out its bytes in reads of random sizes, so that frames
// fall across the chunks of a Reader that reads ahead.
type randomReads struct {
	r   io.Reader
	rnd *rand.Rand
}

func (s *randomReads) Read(p []byte) (int, error) {
	return s.r.Read(p[:min(len(p), 1+s.rnd.IntN(3*tfs))])
}

// A long message read ahead (past its second frame, from sources that fill
// chunks and from ones that do not) decrypts to its plaintext, and every
// alteration past the frames read before reading ahead is caught, with
// nothing of the altered frame or after it released.
func TestReadAheadLongMessages(t *testing.T) {
	const frames = 60
	pt := pattern(frames*tfs + 7)
	h := testHeader(tfs, 1)
	msg := seal(t, testKey(3), h, pt, 0)
	start := func(i int) int { return h.Size() + i*(4+tfs+tagSize) }
	f := tamperFixture{pt: pt, msg: msg}
	for i := range frames {
		f.frames = append(f.frames, [2]int{start(i), start(i + 1)})
	}
	f.frames = append(f.frames, [2]int{start(frames), len(msg)})
	sources := map[string]func(m []byte) io.Reader{
		"whole reads":  func(m []byte) io.Reader { return bytes.NewReader(m) },
		"random reads": func(m []byte) io.Reader { return &randomReads{bytes.NewReader(m), rand.New(rand.NewPCG(1, 2))} },
	}
	for name, src := range sources {
		got, err := openFrom(src(msg), testKey(3), false)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%s: %d bytes, %v", name, len(got), err)
		}
		check := func(what string, m []byte, bad int) {
			t.Helper()
			for _, small := range []bool{false, true} {
				got, err := openFrom(src(m), testKey(3), small)
				if err != envelope.ErrDecrypt {
					t.Fatalf("%s, %s: err = %v, want ErrDecrypt", name, what, err)
				}
				if len(got)%tfs != 0 || len(got) > bad*tfs || !bytes.Equal(got, pt[:len(got)]) {
					t.Fatalf("%s, %s: released %d bytes; frame %d on is not authentic", name, what, len(got), bad)
				}
			}
		}
		for _, i := range []int{3, 17, 40, frames} {
			m := bytes.Clone(msg)
			m[(f.frames[i][0]+f.frames[i][1])/2] ^= 0x10
			check("a flipped bit", m, i)
			check("cut short", msg[:f.frames[i][0]+5], i)
		}
		check("frames 30 and 31 swapped", cat(msg[:f.frames[30][0]], f.frame(31), f.frame(30), msg[f.frames[32][0]:]), 30)
		check("frame 45 dropped", cat(msg[:f.frames[45][0]], msg[f.frames[46][0]:]), 45)
		check("a byte after the end", cat(msg, []byte{0}), frames)
	}
}

// An error of the source past the second frame is returned as it is.
func TestReadAheadPassesErrors(t *testing.T) {
	pt := pattern(40*tfs + 3)
	msg := seal(t, testKey(3), testHeader(tfs, 1), pt, 0)
	boom := errors.New("disk on fire")
	for _, n := range []int{len(msg) / 2, len(msg) - 10, len(msg)} {
		src := &errAfter{r: bytes.NewReader(msg), n: n, err: boom}
		got, err := openFrom(src, testKey(3), false)
		if err != boom || !bytes.Equal(got, pt[:len(got)]) {
			t.Fatalf("error after %d bytes: %v, %d bytes released", n, err, len(got))
		}
	}
}

// A Reader dropped in the middle of a long message does not leave its
// reading goroutine behind.
func TestReadAheadStopsWhenDropped(t *testing.T) {
	// Longer than the chunks read ahead: the goroutine waits for the
	// Reader to take more.
	const fs = 4096
	msg := seal(t, testKey(3), testHeader(fs, 1), pattern(1000*fs), 0)
	before := runtime.NumGoroutine()
	var readers []*Reader
	for range 20 {
		src := bytes.NewReader(msg)
		h, err := ReadHeader(src)
		if err != nil {
			t.Fatal(err)
		}
		r, err := NewReader(src, h, testKey(3))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(io.Discard, r, 10*fs); err != nil {
			t.Fatal(err)
		}
		readers = append(readers, r)
	}
	if n := runtime.NumGoroutine(); n < before+20 {
		t.Fatalf("%d goroutines, %d before: the readers did not read ahead", n, before)
	}
	runtime.KeepAlive(readers)
	readers = nil
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before: dropped readers left theirs", runtime.NumGoroutine(), before)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}
