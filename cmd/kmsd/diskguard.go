package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kmsd/kmsd/cluster"
)

// Free space. kmsd keeps a reserve of free space on the data directory's
// file system (--min-free-disk, default DefaultMinFreeDisk): below it, the
// node takes nothing that must be written — it refuses calls
// (StorageFullException) and commands it would propose or was forwarded
// as the leader (cluster.ErrStorageFull) — until space is freed, which it
// notices within diskPoll. The reserve covers what Badger may still need
// at once (a new value-log file of each store and a memtable), so that
// the stores never meet a full disk: a full disk can cost a crash or a
// SIGBUS on a memory-mapped file. Entries the leader replicates are still
// written on a member low on space.

// DefaultMinFreeDisk is two value-log files (64 MiB each, the largest
// allocation Badger makes at once) and a memtable (8 MiB).
const DefaultMinFreeDisk ByteSize = 2*64<<20 + 8<<20

const diskPoll = 500 * time.Millisecond

// diskGuard watches the free space of the data directory's file system.
type diskGuard struct {
	dir     string
	reserve uint64
	log     *slog.Logger
	low     atomic.Bool
	free    atomic.Uint64
}

// newDiskGuard checks the file system once; a reserve of 0 turns the
// guard off.
func newDiskGuard(dir string, reserve ByteSize, log *slog.Logger) (*diskGuard, error) {
	g := &diskGuard{dir: dir, reserve: uint64(reserve), log: log}
	if err := g.poll(); err != nil {
		return nil, fmt.Errorf("data directory %s: free space: %w", dir, err)
	}
	return g, nil
}

func (g *diskGuard) poll() error {
	var st unix.Statfs_t
	if err := unix.Statfs(g.dir, &st); err != nil {
		return err
	}
	free := st.Bavail * uint64(st.Bsize)
	g.free.Store(free)
	low := g.reserve > 0 && free < g.reserve
	if was := g.low.Swap(low); was != low {
		if low {
			g.log.Error("the data directory is nearly full: refusing every call and change until space is freed",
				"dir", g.dir, "free_bytes", free, "reserve_bytes", g.reserve)
		} else {
			g.log.Info("the data directory has room again: taking calls and changes", "dir", g.dir, "free_bytes", free)
		}
	}
	return nil
}

// run polls until ctx is done.
func (g *diskGuard) run(ctx context.Context) {
	t := time.NewTicker(diskPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := g.poll(); err != nil {
				g.log.Warn("free space of the data directory unknown", "dir", g.dir, "err", err)
			}
		}
	}
}

// Room returns cluster.ErrStorageFull unless the file system has need
// bytes free above the reserve now (it asks the file system, not the
// last poll): for writes that are large at once, such as a backup being
// restored.
func (g *diskGuard) Room(need uint64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(g.dir, &st); err != nil {
		return fmt.Errorf("data directory %s: free space: %w", g.dir, err)
	}
	if free := st.Bavail * uint64(st.Bsize); free < g.reserve+need {
		return cluster.ErrStorageFull
	}
	return nil
}

// StorageCheck implements server.StorageCheck and cluster.Config's
// StorageCheck.
func (g *diskGuard) StorageCheck() error {
	if g.low.Load() {
		return cluster.ErrStorageFull
	}
	return nil
}

// ByteSize is a size setting: bytes, or a number with KiB, MiB, GiB
// ("136MiB").
type ByteSize uint64

var byteUnits = []struct {
	suffix string
	mult   uint64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// UnmarshalText implements encoding.TextUnmarshaler (files and flags).
func (b *ByteSize) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	mult := uint64(1)
	for _, u := range byteUnits {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > (1<<63)/mult {
		return fmt.Errorf("%q is not a size (bytes, or a number with KiB, MiB or GiB)", string(text))
	}
	*b = ByteSize(n * mult)
	return nil
}

func (b ByteSize) String() string {
	for _, u := range byteUnits {
		if uint64(b)%u.mult == 0 && uint64(b) >= u.mult {
			return strconv.FormatUint(uint64(b)/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatUint(uint64(b), 10)
}
