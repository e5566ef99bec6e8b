package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return m, s
}

// TestProgressOnlyOnATerminal: a bar is drawn on a terminal, ending at
// 100% and a new line; nothing is written to a pipe or a buffer.
func TestProgressOnlyOnATerminal(t *testing.T) {
	master, tty := openPTY(t)
	if !isTerminal(tty) {
		t.Fatal("a pseudo-terminal is not a terminal")
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	if isTerminal(pw) {
		t.Fatal("a pipe is a terminal")
	}
	var buf bytes.Buffer
	for _, w := range []io.Writer{pw, &buf, io.Discard} {
		p := newProgress(w, "decrypt-file", 100)
		io.Copy(io.Discard, p.reader(context.Background(), strings.NewReader(strings.Repeat("x", 100))))
		p.finish(true)
		if p.w != nil || buf.Len() != 0 {
			t.Fatalf("progress on %T", w)
		}
	}

	p := newProgress(tty, "encrypt-file", 3<<20)
	if p.w == nil {
		t.Fatal("no progress bar on a terminal")
	}
	if _, err := io.Copy(io.Discard, p.reader(context.Background(), bytes.NewReader(make([]byte, 3<<20)))); err != nil {
		t.Fatal(err)
	}
	p.finish(true)
	var got []byte
	master.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 4096)
	for !bytes.Contains(got, []byte("\n")) {
		n, err := master.Read(b)
		got = append(got, b[:n]...)
		if err != nil {
			t.Fatalf("read the terminal: %v (got %q)", err, got)
		}
	}
	if s := string(got); !strings.Contains(s, "encrypt-file 100% [==============================] 3.0 MiB / 3.0 MiB") {
		t.Fatalf("terminal shows %q", s)
	}

	// The reader stops when its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.reader(ctx, strings.NewReader("x")).Read(make([]byte, 1)); err != context.Canceled {
		t.Fatalf("after cancel: %v", err)
	}
}
