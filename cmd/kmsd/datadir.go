package main

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kmsd/kmsd/envelope"
)

// Files kept in the data directory besides the stores.
const (
	lockFile       = "LOCK"
	rootCheckFile  = "root-key-check"
	devRootKeyFile = "dev-root-key"
)

// prepareDataDir creates the data directory if needed (mode 0700) and
// refuses one that others can read or that belongs to another user.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data dir %s is not a directory", dir)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("data dir %s has mode %04o: it must be accessible to its owner only (chmod 700 %s)", dir, perm, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("data dir %s belongs to uid %d, not to this process's uid %d", dir, st.Uid, os.Geteuid())
	}
	return nil
}

// lockDataDir takes an exclusive lock on the data directory, so that two
// daemons never share one. The lock lasts until the returned file is closed
// or the process exits.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another kmsd process (cannot lock %s: %v)", dir, lockFile, err)
	}
	return f, nil
}

// loadRootKey reads the root key file, or in dev mode creates one under the
// data directory, and checks it against the fingerprint the data directory
// was created with.
func loadRootKey(c Config, log *slog.Logger) (envelope.Key, error) {
	path := c.RootKeyFile
	if path == "" && c.Dev {
		path = filepath.Join(c.DataDir, devRootKeyFile)
		err := envelope.WriteRootKeyFile(path, rand.Reader)
		switch {
		case err == nil:
			log.Warn("DEVELOPMENT MODE: generated a root key stored in plain text next to the data; never use --dev in production", "path", path)
		case errors.Is(err, fs.ErrExist):
			log.Warn("DEVELOPMENT MODE: using the development root key stored next to the data; never use --dev in production", "path", path)
		default:
			return envelope.Key{}, err
		}
	}
	root, err := envelope.ReadRootKeyFile(path)
	if err != nil {
		return envelope.Key{}, fmt.Errorf("root key: %w", err)
	}
	return root, checkRootKey(c.DataDir, root)
}

// checkRootKey compares the root key's fingerprint with the one stored in
// the data directory, storing it on first use.
func checkRootKey(dir string, root envelope.Key) error {
	path := filepath.Join(dir, rootCheckFile)
	want := envelope.RootKeyFingerprint(root)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return writeFileSync(path, []byte(want+"\n"))
	}
	if err != nil {
		return fmt.Errorf("root key check: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(strings.TrimSpace(string(b))), []byte(want)) != 1 {
		return fmt.Errorf("root key does not match the one data dir %s was created with", dir)
	}
	return nil
}

// writeFileSync writes a new file with mode 0600 and makes it durable.
func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
