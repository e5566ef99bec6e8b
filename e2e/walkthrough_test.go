package e2e

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryOperationThroughKmsctl drives every API operation through the
// real kmsctl binary against the real daemon, as the README walkthrough does.
func TestEveryOperationThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()

	created := d.ok("create-key", "--description", "payments", "--tags", "TagKey=team,TagValue=pay")
	keyID := str(created, "KeyMetadata.KeyId")
	arn := str(created, "KeyMetadata.Arn")
	if keyID == "" || str(created, "KeyMetadata.KeyState") != "Enabled" || !strings.HasSuffix(arn, ":key/"+keyID) {
		t.Fatalf("create-key output %v", created)
	}
	d.ok("create-alias", "--alias-name", "alias/payments", "--target-key-id", keyID)
	if got := str(d.ok("describe-key", "--key-id", "alias/payments"), "KeyMetadata.KeyId"); got != keyID {
		t.Fatalf("alias resolves to %q, want %q", got, keyID)
	}
	d.ok("update-key-description", "--key-id", keyID, "--description", "card data")
	if got := str(d.ok("describe-key", "--key-id", arn), "KeyMetadata.Description"); got != "card data" {
		t.Fatalf("description %q after update", got)
	}

	// Encrypt and decrypt a file with an encryption context.
	plain := filepath.Join(dir, "secret.txt")
	os.WriteFile(plain, []byte("card 4111 1111 1111 1111\n"), 0o600)
	enc := filepath.Join(dir, "secret.enc")
	out := filepath.Join(dir, "secret.out")
	d.ok("encrypt", "--key-id", "alias/payments", "--plaintext", "fileb://"+plain,
		"--encryption-context", "purpose=demo,team=payments", "--outfile", enc)
	d.ok("decrypt", "--ciphertext-blob", "fileb://"+enc, "--encryption-context", `{"team":"payments","purpose":"demo"}`, "--outfile", out)
	if a, b := readFile(t, plain), readFile(t, out); !bytes.Equal(a, b) {
		t.Fatalf("decrypted %q, want %q", b, a)
	}
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("--outfile mode: %v %v", fi.Mode(), err)
	}
	d.fails("InvalidCiphertextException", "decrypt", "--ciphertext-blob", "fileb://"+enc, "--encryption-context", "purpose=other,team=payments")
	d.fails("InvalidCiphertextException", "decrypt", "--ciphertext-blob", "fileb://"+enc)
	insp := d.ok("inspect-ciphertext", "--ciphertext-blob", "fileb://"+enc)
	if str(insp, "KeyId") != keyID || len(str(insp, "KeyMaterialId")) != 64 {
		t.Fatalf("inspect-ciphertext output %v", insp)
	}

	// Plaintext from stdin, blob in JSON output.
	r := d.ctl([]byte("from stdin"), "encrypt", "--key-id", keyID, "--plaintext", "-")
	if r.code != 0 {
		t.Fatalf("encrypt from stdin: %s", r.stderr)
	}
	b64 := jsonField(t, r.stdout, "CiphertextBlob")
	dec := d.ok("decrypt", "--ciphertext-blob", b64)
	if pt, _ := base64.StdEncoding.DecodeString(str(dec, "Plaintext")); string(pt) != "from stdin" {
		t.Fatalf("decrypt of stdin ciphertext gave %q", pt)
	}

	// Data keys and random bytes.
	dk := d.ok("generate-data-key", "--key-id", "alias/payments", "--key-spec", "AES_256", "--encryption-context", "file=a")
	pt, _ := base64.StdEncoding.DecodeString(str(dk, "Plaintext"))
	if len(pt) != 32 {
		t.Fatalf("data key of %d bytes", len(pt))
	}
	dec = d.ok("decrypt", "--ciphertext-blob", str(dk, "CiphertextBlob"), "--encryption-context", "file=a")
	if got, _ := base64.StdEncoding.DecodeString(str(dec, "Plaintext")); !bytes.Equal(got, pt) {
		t.Fatal("data key ciphertext does not decrypt to the data key")
	}
	wo := d.ok("generate-data-key-without-plaintext", "--key-id", keyID, "--number-of-bytes", "64")
	if wo["Plaintext"] != nil || str(wo, "CiphertextBlob") == "" {
		t.Fatalf("generate-data-key-without-plaintext output %v", wo)
	}
	rnd := filepath.Join(dir, "random.bin")
	d.ok("generate-random", "--number-of-bytes", "1024", "--outfile", rnd)
	if n := len(readFile(t, rnd)); n != 1024 {
		t.Fatalf("generate-random wrote %d bytes", n)
	}

	// Re-encrypt under a second key.
	other := str(d.ok("create-key", "--description", "archive"), "KeyMetadata.KeyId")
	re := d.ok("re-encrypt", "--ciphertext-blob", "fileb://"+enc, "--source-encryption-context", "purpose=demo,team=payments",
		"--destination-key-id", other, "--destination-encryption-context", "purpose=archive")
	if !strings.HasSuffix(str(re, "KeyId"), other) || !strings.HasSuffix(str(re, "SourceKeyId"), keyID) {
		t.Fatalf("re-encrypt output %v", re)
	}
	dec = d.ok("decrypt", "--ciphertext-blob", str(re, "CiphertextBlob"), "--encryption-context", "purpose=archive")
	if got, _ := base64.StdEncoding.DecodeString(str(dec, "Plaintext")); !bytes.Equal(got, readFile(t, plain)) {
		t.Fatal("re-encrypted ciphertext does not decrypt to the original")
	}

	// Listing, aliases and tags.
	keys := d.ok("list-keys")
	if n := len(field(keys, "Keys").([]any)); n != 2 {
		t.Fatalf("list-keys shows %d keys, want 2", n)
	}
	d.ok("update-alias", "--alias-name", "alias/payments", "--target-key-id", other)
	if got := str(d.ok("describe-key", "--key-id", "alias/payments"), "KeyMetadata.KeyId"); got != other {
		t.Fatalf("alias points at %q after update-alias", got)
	}
	aliases := d.ok("list-aliases", "--key-id", other)
	if al := field(aliases, "Aliases").([]any); len(al) != 1 || al[0].(map[string]any)["AliasName"] != "alias/payments" {
		t.Fatalf("list-aliases output %v", aliases)
	}
	d.ok("delete-alias", "--alias-name", "alias/payments")
	d.fails("NotFoundException", "describe-key", "--key-id", "alias/payments")
	d.ok("tag-resource", "--key-id", keyID, "--tags", "TagKey=env,TagValue=prod", "TagKey=cost,TagValue=42")
	d.ok("untag-resource", "--key-id", keyID, "--tag-keys", "team")
	tags := d.ok("list-resource-tags", "--key-id", keyID)
	if got := tagString(field(tags, "Tags")); got != "cost=42 env=prod" {
		t.Fatalf("tags %q", got)
	}

	// Disable: encryption fails, decryption too; enable again.
	d.ok("disable-key", "--key-id", keyID)
	d.fails("DisabledException", "encrypt", "--key-id", keyID, "--plaintext", "fileb://"+plain)
	d.fails("DisabledException", "decrypt", "--ciphertext-blob", "fileb://"+enc, "--encryption-context", "purpose=demo,team=payments")
	d.ok("enable-key", "--key-id", keyID)
	d.ok("encrypt", "--key-id", keyID, "--plaintext", "fileb://"+plain)

	// Scheduled deletion and its cancellation.
	sched := d.ok("schedule-key-deletion", "--key-id", keyID, "--pending-window-in-days", "7")
	if str(sched, "KeyState") != "PendingDeletion" || str(sched, "DeletionDate") == "" {
		t.Fatalf("schedule-key-deletion output %v", sched)
	}
	d.fails("KMSInvalidStateException", "encrypt", "--key-id", keyID, "--plaintext", "fileb://"+plain)
	d.fails("KMSInvalidStateException", "enable-key", "--key-id", keyID)
	d.ok("cancel-key-deletion", "--key-id", keyID)
	if st := str(d.ok("describe-key", "--key-id", keyID), "KeyMetadata.KeyState"); st != "Disabled" {
		t.Fatalf("state %s after cancel-key-deletion, want Disabled", st)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func jsonField(t *testing.T, out, name string) string {
	t.Helper()
	m := map[string]any{}
	if err := jsonUnmarshal(out, &m); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	return str(m, name)
}

func tagString(v any) string {
	list, _ := v.([]any)
	var parts []string
	for _, e := range list {
		m := e.(map[string]any)
		parts = append(parts, m["TagKey"].(string)+"="+m["TagValue"].(string))
	}
	return strings.Join(parts, " ")
}
