package envelope

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRootKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "root.key")
	if err := WriteRootKeyFile(path, rand.Reader); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode())
	}
	k1, err := ReadRootKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := ReadRootKeyFile(path)
	if err != nil || !k1.Equal(k2) {
		t.Fatal("reading twice gives different keys")
	}
	if err := WriteRootKeyFile(path, rand.Reader); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("overwrite: %v", err)
	}
	for _, mode := range []os.FileMode{0o640, 0o644, 0o604, 0o660, 0o601} {
		os.Chmod(path, mode)
		_, err := ReadRootKeyFile(path)
		if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	os.Chmod(path, 0o400)
	if _, err := ReadRootKeyFile(path); err != nil {
		t.Errorf("mode 0400 refused: %v", err)
	}
	// A file of another user is refused even with a safe mode. Changing the
	// owner needs root, which CI has.
	if os.Geteuid() != 0 {
		t.Log("not root: cannot create a file owned by another user; foreign-owner case not exercised")
		return
	}
	if err := os.Chown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRootKeyFile(path); !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "uid 4242") {
		t.Errorf("foreign owner: %v", err)
	}
}

// katRootKeyLine is the root key file of the key seq(200, 32), computed
// independently (Python's base64 module).
const katRootKeyLine = "kmsd-root-key-v1:yMnKy8zNzs/Q0dLT1NXW19jZ2tvc3d7f4OHi4+Tl5uc=\n"

// TestKnownAnswerRootKeyFile freezes the file format: a deterministic rand
// gives exactly the known line, and the known line reads back as that key.
func TestKnownAnswerRootKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "root.key")
	if err := WriteRootKeyFile(path, bytes.NewReader(seq(200, 32))); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != katRootKeyLine {
		t.Fatalf("root key file %q, want %q", b, katRootKeyLine)
	}
	k, err := ReadRootKeyFile(path)
	if err != nil || !k.Equal(mustKey(t, seq(200, 32))) || RootKeyFingerprint(k) != katFingerprint {
		t.Fatalf("ReadRootKeyFile(known file): %v", err)
	}
}

func TestRootKeyFileFollowsSymlinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "data", "root.key")
	os.Mkdir(filepath.Dir(target), 0o700)
	if err := WriteRootKeyFile(target, rand.Reader); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "root.key")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	want, _ := ReadRootKeyFile(target)
	if got, err := ReadRootKeyFile(link); err != nil || !got.Equal(want) {
		t.Fatalf("through a symlink: %v", err)
	}
}

func TestRootKeyFileFormat(t *testing.T) {
	dir := t.TempDir()
	body := strings.TrimPrefix(strings.TrimSuffix(katRootKeyLine, "\n"), rootKeyPrefix)
	for name, content := range map[string]string{
		"no newline": rootKeyPrefix + body,
		"crlf":       rootKeyPrefix + body + "\r\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, []byte(content), 0o600)
		if _, err := ReadRootKeyFile(p); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, content := range map[string]string{
		"no prefix":     "AAAA\n",
		"bad base64":    rootKeyPrefix + "%%%\n",
		"short key":     rootKeyPrefix + "AAAA\n",
		"empty":         "",
		"long key":      rootKeyPrefix + body[:len(body)-1] + "AAAA\n",
		"two newlines":  katRootKeyLine + "\n",
		"second line":   katRootKeyLine + "x\n",
		"space":         rootKeyPrefix + " " + body + "\n",
		"unpadded":      rootKeyPrefix + strings.TrimRight(body, "=") + "\n",
		"old prefix":    "kmsd-root-key-v0:" + body + "\n",
		"inner newline": rootKeyPrefix + body[:8] + "\n" + body[8:] + "\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		os.WriteFile(p, []byte(content), 0o600)
		_, err := ReadRootKeyFile(p)
		if !errors.Is(err, ErrInvalidRootKeyFile) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), content[min(len(content), 3):]) && content != "" && len(content) > 8 {
			t.Errorf("%s: error quotes the file: %v", name, err)
		}
	}
}
