package envelope

import (
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

func TestRootKeyFileFormat(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"no prefix":  "AAAA\n",
		"bad base64": rootKeyPrefix + "%%%\n",
		"short key":  rootKeyPrefix + "AAAA\n",
		"empty":      "",
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
	if _, err := ReadRootKeyFile(dir); !errors.Is(err, ErrInvalidRootKeyFile) {
		t.Errorf("directory accepted: %v", err)
	}
}
