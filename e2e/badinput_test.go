package e2e

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestBadInputChangesNothing sends malformed and refused requests through
// kmsctl: each must fail with a clear, typed error, and the key state must
// be exactly as before.
func TestBadInputChangesNothing(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	keyID := str(d.ok("create-key"), "KeyMetadata.KeyId")
	other := str(d.ok("create-key"), "KeyMetadata.KeyId")
	disabled := str(d.ok("create-key"), "KeyMetadata.KeyId")
	d.ok("disable-key", "--key-id", disabled)
	pending := str(d.ok("create-key"), "KeyMetadata.KeyId")
	d.ok("schedule-key-deletion", "--key-id", pending)
	d.ok("create-alias", "--alias-name", "alias/app", "--target-key-id", keyID)

	blob := write(t, dir, "ct", decodeB64(t, str(d.ok("encrypt", "--key-id", keyID, "--plaintext", b64("hello"),
		"--encryption-context", "k=v"), "CiphertextBlob")))
	tampered := readFile(t, blob)
	tampered[len(tampered)-5] ^= 0x40
	tamperedPath := write(t, dir, "tampered", tampered)
	big := write(t, dir, "big", make([]byte, 4097))
	before := snapshot(t, d)

	cases := []struct {
		exception string
		args      []string
	}{
		{"InvalidCiphertextException", []string{"decrypt", "--ciphertext-blob", "fileb://" + tamperedPath, "--encryption-context", "k=v"}},
		{"InvalidCiphertextException", []string{"decrypt", "--ciphertext-blob", "fileb://" + blob, "--encryption-context", "k=w"}},
		{"InvalidCiphertextException", []string{"decrypt", "--ciphertext-blob", b64("definitely not a ciphertext")}},
		{"IncorrectKeyException", []string{"decrypt", "--ciphertext-blob", "fileb://" + blob, "--encryption-context", "k=v", "--key-id", other}},
		{"ValidationException", []string{"encrypt", "--key-id", keyID, "--plaintext", "fileb://" + big}},
		{"NotFoundException", []string{"encrypt", "--key-id", "0b0b0b0b-0b0b-4b0b-8b0b-0b0b0b0b0b0b", "--plaintext", b64("x")}},
		{"NotFoundException", []string{"encrypt", "--key-id", "alias/nope", "--plaintext", b64("x")}},
		{"DisabledException", []string{"encrypt", "--key-id", disabled, "--plaintext", b64("x")}},
		{"DisabledException", []string{"generate-data-key", "--key-id", disabled, "--key-spec", "AES_256"}},
		{"KMSInvalidStateException", []string{"encrypt", "--key-id", pending, "--plaintext", b64("x")}},
		{"KMSInvalidStateException", []string{"disable-key", "--key-id", pending}},
		{"KMSInvalidStateException", []string{"create-alias", "--alias-name", "alias/late", "--target-key-id", pending}},
		{"ValidationException", []string{"create-alias", "--alias-name", "no-prefix", "--target-key-id", keyID}},
		{"ValidationException", []string{"create-alias", "--alias-name", "alias/white space", "--target-key-id", keyID}},
		{"InvalidAliasNameException", []string{"create-alias", "--alias-name", "alias/aws/s3", "--target-key-id", keyID}},
		{"AlreadyExistsException", []string{"create-alias", "--alias-name", "alias/app", "--target-key-id", other}},
		{"ValidationException", []string{"schedule-key-deletion", "--key-id", keyID, "--pending-window-in-days", "6"}},
		{"ValidationException", []string{"generate-data-key", "--key-id", keyID, "--number-of-bytes", "1025"}},
		{"ValidationException", []string{"generate-random", "--number-of-bytes", "0"}},
	}
	for _, c := range cases {
		r := d.fails(c.exception, c.args...)
		for _, secret := range []string{"hello", "not a ciphertext"} {
			if strings.Contains(r.stderr, secret) {
				t.Errorf("%v: error output reveals input %q: %s", c.args, secret, r.stderr)
			}
		}
	}
	// Usage errors: no request is sent, exit status is not the service-error one.
	for _, args := range [][]string{
		{"encrypt", "--key-id", keyID},
		{"encrypt", "--key-id", keyID, "--plaintext", "%%%not-base64"},
		{"encrypt", "--key-id", keyID, "--plaintext", b64("x"), "--no-such-flag", "1"},
		{"create-key", "--tags", "Nonsense"},
		{"no-such-command"},
		{"decrypt", "--ciphertext-blob", "fileb://" + filepath.Join(dir, "missing")},
	} {
		r := d.ctl(nil, args...)
		if r.code == 0 || r.code == 254 || r.stderr == "" {
			t.Errorf("kmsctl %v: exit %d, stderr %q; want a usage error", args, r.code, r.stderr)
		}
	}
	if after := snapshot(t, d); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused requests changed state:\nbefore %v\nafter  %v", before, after)
	}
}

// snapshot captures every key's metadata and every alias.
func snapshot(t *testing.T, d *daemon) map[string]any {
	t.Helper()
	out := map[string]any{}
	for _, k := range field(d.ok("list-keys"), "Keys").([]any) {
		id := k.(map[string]any)["KeyId"].(string)
		out[id] = d.ok("describe-key", "--key-id", id)["KeyMetadata"]
		out[id+"/tags"] = d.ok("list-resource-tags", "--key-id", id)["Tags"]
	}
	out["aliases"] = d.ok("list-aliases")["Aliases"]
	return out
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func decodeB64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
