package envelope

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// rootKeyPrefix starts the one line of a root key file.
const rootKeyPrefix = "kmsd-root-key-v1:"

// WriteRootKeyFile creates a new root key from rand and writes it to path
// with mode 0600. It never overwrites a file (the error wraps fs.ErrExist),
// and it makes the file and its directory entry durable before returning.
func WriteRootKeyFile(path string, rand io.Reader) error {
	k, err := GenerateKey(rand)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("envelope: create root key file: %w", err)
	}
	line := rootKeyPrefix + base64.StdEncoding.EncodeToString(k.b[:]) + "\n"
	_, err = f.WriteString(line)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("envelope: write root key file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ReadRootKeyFile reads a root key written by WriteRootKeyFile. It refuses
// a file that is not a regular file, that grants any permission to group or
// others, or that belongs to another user (ErrInsecurePermissions).
func ReadRootKeyFile(path string) (Key, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("envelope: root key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("%w: %s is not a regular file", ErrInvalidRootKeyFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("%w: root key file %s has mode %04o; it must be readable by its owner only (chmod 600 %s)",
			ErrInsecurePermissions, path, perm, path)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return Key{}, fmt.Errorf("%w: root key file %s belongs to uid %d, not to this process's uid %d",
			ErrInsecurePermissions, path, st.Uid, os.Geteuid())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return Key{}, fmt.Errorf("envelope: root key file: %w", err)
	}
	defer clear(b)
	line, ok := strings.CutPrefix(strings.TrimRight(string(b), "\r\n"), rootKeyPrefix)
	if !ok {
		return Key{}, fmt.Errorf("%w: %s", ErrInvalidRootKeyFile, path)
	}
	raw, err := base64.StdEncoding.DecodeString(line)
	if err != nil || len(raw) != 32 {
		return Key{}, fmt.Errorf("%w: %s", ErrInvalidRootKeyFile, path)
	}
	defer clear(raw)
	return KeyFromBytes(raw)
}

// RootKeyFingerprint returns a public check value of a root key:
// hex(HMAC-SHA256(root, "kmsd/v1/root-key-check"))[:32]. A server stores it
// to detect a start with the wrong root key; it reveals nothing of the key.
func RootKeyFingerprint(root Key) string {
	root.must()
	m := hmac.New(sha256.New, root.b[:])
	m.Write([]byte("kmsd/v1/root-key-check"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
