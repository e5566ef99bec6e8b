package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/encrypt"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/envelope/message"
)

// TestEncryptFileThroughKmsctl: encrypt-file then decrypt-file of a
// multi-MiB file with the real kmsd and kmsctl; altered, truncated and
// mismatched files fail and leave no output.
func TestEncryptFileThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	key := str(d.ok("create-key", "--description", "files"), "KeyMetadata.KeyId")
	dir := t.TempDir()
	in, enc, dec := filepath.Join(dir, "data.bin"), filepath.Join(dir, "data.kmse"), filepath.Join(dir, "data.out")
	pt := make([]byte, 5<<20+123)
	rand.Read(pt)
	if err := os.WriteFile(in, pt, 0o600); err != nil {
		t.Fatal(err)
	}

	r := d.ctl(nil, "encrypt-file", "--key-id", key, "--in", in, "--out", enc, "--encryption-context", "purpose=e2e,host=db1")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("encrypt-file: exit %d, stderr %q", r.code, r.stderr)
	}
	var res struct {
		KeyId             string
		Bytes             int64
		EncryptionContext map[string]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil || !strings.HasSuffix(res.KeyId, key) ||
		res.Bytes != int64(len(pt)) || res.EncryptionContext["host"] != "db1" {
		t.Fatalf("encrypt-file printed %q (%v)", r.stdout, err)
	}
	sealed, err := os.ReadFile(enc)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(enc); fi.Mode().Perm() != 0o600 {
		t.Errorf("encrypted file has mode %v, want 0600", fi.Mode().Perm())
	}
	if bytes.Contains(sealed, pt[1<<20:1<<20+32]) || len(sealed) < len(pt) || len(sealed) > len(pt)+len(pt)/1000+1024 {
		t.Fatalf("encrypted file of %d bytes for %d bytes of plaintext, or holds the plaintext", len(sealed), len(pt))
	}
	h, err := message.ReadHeader(bytes.NewReader(sealed))
	if err != nil || !strings.HasSuffix(h.KeyID, key) || h.EncryptionContext["purpose"] != "e2e" {
		t.Fatalf("header: %+v, %v", h, err)
	}

	r = d.ctl(nil, "decrypt-file", "--in", enc, "--out", dec, "--encryption-context", "purpose=e2e")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("decrypt-file: exit %d, stderr %q", r.code, r.stderr)
	}
	if got, err := os.ReadFile(dec); err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("decrypted file differs from the original (%v)", err)
	}
	if fi, _ := os.Stat(dec); fi.Mode().Perm() != 0o600 {
		t.Errorf("decrypted file has mode %v, want 0600", fi.Mode().Perm())
	}
	// An existing --out is kept unless --overwrite.
	if r = d.ctl(nil, "decrypt-file", "--in", enc, "--out", dec); r.code != 255 || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("decrypt-file onto an existing file: exit %d, %q", r.code, r.stderr)
	}
	if r = d.ctl(nil, "decrypt-file", "--in", enc, "--out", dec, "--overwrite"); r.code != 0 {
		t.Fatalf("decrypt-file --overwrite: exit %d, %q", r.code, r.stderr)
	}

	// --key-id: the file's key passes, by id; another key is refused by kmsd.
	if r = d.ctl(nil, "decrypt-file", "--in", enc, "--out", dec, "--overwrite", "--key-id", key); r.code != 0 {
		t.Fatalf("decrypt-file --key-id (the file's key): exit %d, %q", r.code, r.stderr)
	}
	otherKey := str(d.ok("create-key"), "KeyMetadata.KeyId")
	if r = d.ctl(nil, "decrypt-file", "--in", enc, "--out", filepath.Join(dir, "never"), "--key-id", otherKey); r.code != 254 ||
		!strings.Contains(r.stderr, "(IncorrectKeyException)") {
		t.Fatalf("decrypt-file --key-id (another key): exit %d, %q", r.code, r.stderr)
	}

	bad := filepath.Join(dir, "bad.kmse")
	for _, c := range []struct {
		name   string
		file   []byte
		args   []string
		stderr string
		code   int
	}{
		{"a flipped bit in the last frame", flip(sealed, len(sealed)-100), nil, "altered", 255},
		{"a flipped bit in the first frame", flip(sealed, h.Size()+10), nil, "altered", 255},
		{"cut short by one frame", sealed[:len(sealed)-message.DefaultFrameSize], nil, "altered", 255},
		{"cut short by one byte", sealed[:len(sealed)-1], nil, "altered", 255},
		{"another context required", sealed, []string{"--encryption-context", "purpose=other"}, "encryption context", 255},
		{"the header's context changed", bytes.Replace(sealed, []byte("db1"), []byte("db2"), 1), nil, "InvalidCiphertextException", 254},
		{"not an encrypted file", pt[:4096], nil, "not a kmsd encrypted file", 255},
	} {
		out := filepath.Join(dir, "never")
		if err := os.WriteFile(bad, c.file, 0o600); err != nil {
			t.Fatal(err)
		}
		r := d.ctl(nil, append([]string{"decrypt-file", "--in", bad, "--out", out}, c.args...)...)
		if r.code != c.code || !strings.Contains(r.stderr, c.stderr) || r.stdout != "" {
			t.Errorf("%s: exit %d, stderr %q, stdout %q; want %d and %q", c.name, r.code, r.stderr, r.stdout, c.code, c.stderr)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: an output file exists after the failure (%v)", c.name, err)
		}
	}
	// No temporary file is left behind by any of the runs.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 4 {
		t.Errorf("files left in the directory: %v", names)
	}
	if r := d.ctl(nil, "encrypt-file", "--key-id", key, "--in", in, "--out", filepath.Join(dir, "x"), "--frame-size", "0"); r.code != 252 {
		t.Errorf("--frame-size 0: exit %d, %q", r.code, r.stderr)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x04
	return c
}

// TestEncryptClientAgainstKmsd: the encrypt package over signed gRPC with
// the real kmsd: round trips, kmsd refusing a changed context, and the
// cache cutting GenerateDataKey calls (counted in the audit log).
func TestEncryptClientAgainstKmsd(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	key := str(d.ok("create-key"), "KeyMetadata.KeyId")
	kms := d.client()
	c, err := encrypt.New(kms)
	if err != nil {
		t.Fatal(err)
	}
	ec := map[string]string{"tenant": "a"}
	pt := make([]byte, 3<<20)
	rand.Read(pt)
	var sealed bytes.Buffer
	w, err := c.NewEncryptingWriter(ctx, &sealed, "alias-free:"+key, ec)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown key: %v", err)
	}
	if w, err = c.NewEncryptingWriter(ctx, &sealed, key, ec); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil || w.Close() != nil {
		t.Fatal(err)
	}
	msg := sealed.Bytes()
	got, err := c.Decrypt(ctx, msg, ec)
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("round trip: %v", err)
	}
	// The header names the context kmsd must see; changed, kmsd refuses.
	changed := bytes.Replace(msg, []byte("tenant\x00\x01a"), []byte("tenant\x00\x01b"), 1)
	if bytes.Equal(changed, msg) {
		t.Fatal("context not found in the header")
	}
	if _, err := c.Decrypt(ctx, changed, nil); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("changed context: %v, want InvalidCiphertextException", err)
	}
	if _, err := c.Decrypt(ctx, flip(msg, len(msg)/2), nil); !errors.Is(err, envelope.ErrDecrypt) {
		t.Fatalf("flipped body: %v", err)
	}

	cached, err := encrypt.New(kms, encrypt.WithCache(encrypt.CacheConfig{MaxAge: time.Minute, MaxMessages: 5}))
	if err != nil {
		t.Fatal(err)
	}
	before := countEvents(d, "GenerateDataKey")
	for i := range 10 {
		m, err := cached.Encrypt(ctx, key, []byte(fmt.Sprint(i)), ec)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := cached.Decrypt(ctx, m, ec); err != nil || string(got) != fmt.Sprint(i) {
			t.Fatalf("cached round trip %d: %v", i, err)
		}
	}
	if n := countEvents(d, "GenerateDataKey") - before; n != 2 {
		t.Fatalf("10 messages, at most 5 per data key: %d GenerateDataKey records, want 2", n)
	}
}

func countEvents(d *daemon, name string) int {
	n := 0
	for _, e := range d.auditRecords() {
		if bytes.Contains(e.GetRecord(), []byte(`"eventName":"`+name+`"`)) {
			n++
		}
	}
	return n
}

// BenchmarkCacheKmsd encrypts and decrypts 1 KiB messages through the
// real kmsd with and without the data key cache (each uncached message
// costs a GenerateDataKey and a Decrypt, each with its audit record).
func BenchmarkCacheKmsd(b *testing.B) {
	d := startDaemon(b)
	ctx := context.Background()
	key := str(d.ok("create-key"), "KeyMetadata.KeyId")
	kms := d.client()
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			var opts []encrypt.Option
			if cached {
				opts = append(opts, encrypt.WithCache(encrypt.CacheConfig{MaxAge: time.Minute, MaxMessages: 1000}))
			}
			c, err := encrypt.New(kms, opts...)
			if err != nil {
				b.Fatal(err)
			}
			pt, ec := make([]byte, 1024), map[string]string{"tenant": "a"}
			for b.Loop() {
				m, err := c.Encrypt(ctx, key, pt, ec)
				if err == nil {
					_, err = c.Decrypt(ctx, m, ec)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
