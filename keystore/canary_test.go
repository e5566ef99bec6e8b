package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestOnlyWrappedMaterialAtRest is the keystore's part of K5. The store is
// only ever given wrapped material, so it cannot leak plaintext keys; what
// can be checked is that it writes what it was given and nothing else.
// First the scan must find a canary that was stored (so it can find
// strings at all), then it must not find a secret that was never given.
func TestOnlyWrappedMaterialAtRest(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32) // stands for the plaintext material
	rand.Read(secret)
	stored := "canary-" + rand.Text()
	k := testKey("k1")
	k.Description = stored
	k.Versions[0].Wrapped = []byte("sealed(" + rand.Text() + ")")
	createKey(t, s, k)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	files := readAll(t, dir)
	if !bytes.Contains(files, []byte(stored)) {
		t.Fatal("the scan did not find the stored description: it cannot prove anything")
	}
	wrapped := base64.StdEncoding.EncodeToString(k.Versions[0].Wrapped)
	if !bytes.Contains(files, []byte(wrapped)) {
		t.Fatal("the scan did not find the wrapped material")
	}
	for _, form := range [][]byte{
		secret,
		[]byte(hex.EncodeToString(secret)),
		[]byte(base64.StdEncoding.EncodeToString(secret)),
	} {
		if bytes.Contains(files, form) {
			t.Errorf("found a secret the store was never given")
		}
	}
}

// readAll returns the contents of every file under dir, concatenated.
func readAll(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		all = append(all, b...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return all
}
