//go:build unix

package envelope

import (
	"errors"
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRootKeyFileNotRegular: a FIFO or a directory is refused at once (a
// FIFO must not block the start-up).
func TestRootKeyFileNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir, fifo} {
		if _, err := ReadRootKeyFile(p); !errors.Is(err, ErrInvalidRootKeyFile) {
			t.Errorf("%s: %v", p, err)
		}
	}
	if _, err := ReadRootKeyFile(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
