package main

import (
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/kmsd/kmsd/cluster"
)

func TestByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"0", 0, true}, {"1000", 1000, true}, {"136MiB", 136 << 20, true}, {"1 GiB", 1 << 30, true},
		{"64KiB", 64 << 10, true}, {"12B", 12, true},
		{"", 0, false}, {"-1", 0, false}, {"1.5GiB", 0, false}, {"10MB", 0, false}, {"99999999999999999999", 0, false},
		{"9999999999999GiB", 0, false},
	} {
		var b ByteSize
		err := b.UnmarshalText([]byte(c.in))
		if (err == nil) != c.ok || c.ok && b != c.want {
			t.Errorf("%q: %d, %v; want %d ok=%v", c.in, b, err, c.want, c.ok)
		}
	}
	if DefaultMinFreeDisk.String() != "136MiB" {
		t.Errorf("default %s", DefaultMinFreeDisk)
	}
}

// TestDiskGuard: a reserve larger than the file system's free space is
// "nearly full" (ErrStorageFull); none, or a small one, is not.
func TestDiskGuard(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	for _, c := range []struct {
		reserve ByteSize
		full    bool
	}{{0, false}, {1, false}, {1 << 62, true}} {
		g, err := newDiskGuard(dir, c.reserve, log)
		if err != nil {
			t.Fatal(err)
		}
		if err := g.StorageCheck(); errors.Is(err, cluster.ErrStorageFull) != c.full {
			t.Errorf("reserve %d: %v, want full=%v", c.reserve, err, c.full)
		}
		if g.free.Load() == 0 {
			t.Errorf("free space not read")
		}
		// Room asks for space above the reserve, as the file system has it now.
		free := g.free.Load()
		if err := g.Room(0); errors.Is(err, cluster.ErrStorageFull) != c.full {
			t.Errorf("reserve %d: Room(0) = %v, want full=%v", c.reserve, err, c.full)
		}
		if err := g.Room(free + 1<<30); !errors.Is(err, cluster.ErrStorageFull) {
			t.Errorf("reserve %d: Room(more than free) = %v", c.reserve, err)
		}
	}
	if _, err := newDiskGuard("/no/such/dir", 1, log); err == nil {
		t.Error("a missing data directory was accepted")
	}
}
