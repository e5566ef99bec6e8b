package envelope

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// rootKeyPrefix starts the one line of a root key file.
const rootKeyPrefix = "kmsd-root-key-v1:"

// rootKeyLineSize is the length of a root key file's line, newline included.
var rootKeyLineSize = len(rootKeyPrefix) + base64.StdEncoding.EncodedLen(32) + 1

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
	line := appendRootKeyLine(make([]byte, 0, rootKeyLineSize), k)
	_, err = f.Write(line)
	clear(line)
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
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("envelope: sync directory of root key file: %w", err)
	}
	return nil
}

// appendRootKeyLine appends "kmsd-root-key-v1:" || base64(k) || "\n".
func appendRootKeyLine(dst []byte, k Key) []byte {
	k.must()
	dst = append(dst, rootKeyPrefix...)
	dst = base64.StdEncoding.AppendEncode(dst, k.b[:])
	return append(dst, '\n')
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
// a file that is not a regular file (ErrInvalidRootKeyFile), that grants
// any permission to group or others, or that belongs to another user
// (ErrInsecurePermissions). The checks are made on the opened file, so the
// file cannot be swapped between check and read. Symbolic links are
// followed (secret volumes are often mounted through them).
func ReadRootKeyFile(path string) (Key, error) {
	// Stat before opening: opening a FIFO would block.
	before, err := os.Stat(path)
	if err != nil {
		return Key{}, fmt.Errorf("envelope: root key file: %w", err)
	}
	if err := checkRootKeyFile(before, path); err != nil {
		return Key{}, err
	}
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("envelope: root key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("envelope: root key file: %w", err)
	}
	if !os.SameFile(before, fi) {
		return Key{}, fmt.Errorf("%w: %s was replaced while being opened", ErrInvalidRootKeyFile, path)
	}
	if err := checkRootKeyFile(fi, path); err != nil {
		return Key{}, err
	}
	return readRootKey(f, path)
}

// readRootKey reads and parses the line of an opened root key file.
func readRootKey(f io.Reader, path string) (Key, error) {
	// One byte more than a valid file, to notice a longer one.
	buf := make([]byte, rootKeyLineSize+2)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return Key{}, fmt.Errorf("envelope: root key file: %w", err)
	}
	k, ok := parseRootKeyLine(buf[:n])
	if !ok {
		return Key{}, fmt.Errorf("%w: %s", ErrInvalidRootKeyFile, path)
	}
	return k, nil
}

// checkRootKeyFile checks the type, mode and owner of a root key file.
func checkRootKeyFile(fi os.FileInfo, path string) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s is not a regular file", ErrInvalidRootKeyFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return fmt.Errorf("%w: root key file %s has mode %04o; it must be readable by its owner only (chmod 600 %s)",
			ErrInsecurePermissions, path, perm, path)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() {
		return fmt.Errorf("%w: root key file %s belongs to uid %d, not to this process's uid %d",
			ErrInsecurePermissions, path, uid, os.Geteuid())
	}
	return nil
}

// parseRootKeyLine parses the prefix, the base64 key and an optional final
// newline ("\n" or "\r\n"); anything else is refused.
func parseRootKeyLine(b []byte) (Key, bool) {
	b, ok := bytes.CutPrefix(b, []byte(rootKeyPrefix))
	if !ok {
		return Key{}, false
	}
	if bytes.HasSuffix(b, []byte("\r\n")) {
		b = b[:len(b)-2]
	} else if bytes.HasSuffix(b, []byte("\n")) {
		b = b[:len(b)-1]
	}
	var raw [33]byte // one spare byte: a longer key does not fit in 32
	defer clear(raw[:])
	// The decoder skips newlines; a file has exactly one, at the end.
	if bytes.ContainsAny(b, "\r\n") || base64.StdEncoding.DecodedLen(len(b)) > len(raw) {
		return Key{}, false
	}
	n, err := base64.StdEncoding.Decode(raw[:], b)
	if err != nil || n != 32 {
		return Key{}, false
	}
	return newKey([32]byte(raw[:32])), true
}

// RootKeyFingerprint returns a public check value of a root key:
// hex(HMAC-SHA256(root, "kmsd/v1/root-key-check")[:16]). A server stores it
// to detect a start with the wrong root key; it reveals nothing of the key.
func RootKeyFingerprint(root Key) string {
	root.must()
	m := hmac.New(sha256.New, root.b[:])
	m.Write([]byte("kmsd/v1/root-key-check"))
	return hex.EncodeToString(m.Sum(nil)[:16])
}
