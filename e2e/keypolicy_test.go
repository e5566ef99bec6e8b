package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeyPolicyAndGrant drives key policies and grants through the real
// kmsctl and kmsd: a key policy from a file (read back as written), an IAM
// user that may do nothing by itself, a grant for it under an encryption
// context constraint, encryption and decryption with the user's own
// credentials, a refusal outside the constraint, and refusals once the
// grant is revoked.
func TestKeyPolicyAndGrant(t *testing.T) {
	d := startDaemon(t)
	keyID := str(d.ok("create-key", "--description", "grants e2e"), "KeyMetadata.KeyId")

	user := d.ok("iam", "create-user", "--user-name", "grantee")
	userARN := str(user, "User.Arn")
	ak := d.ok("iam", "create-access-key", "--user-name", "grantee")
	env := []string{"KMS_ACCESS_KEY_ID=" + str(ak, "AccessKey.AccessKeyId"), "KMS_SECRET_ACCESS_KEY=" + str(ak, "AccessKey.SecretAccessKey")}
	asUser := func(args ...string) result { return d.ctlWithEnv(env, args...) }

	// The key policy: the root keeps everything, the user may describe.
	doc, _ := json.Marshal(map[string]any{"Version": "2012-10-17", "Statement": []any{
		map[string]any{"Sid": "root", "Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*"},
		map[string]any{"Sid": "describe", "Effect": "Allow", "Principal": map[string]any{"AWS": userARN}, "Action": "kms:DescribeKey", "Resource": "*"},
	}})
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	d.ok("put-key-policy", "--key-id", keyID, "--policy-name", "default", "--policy", "file://"+path)
	if got := d.ok("get-key-policy", "--key-id", keyID, "--policy-name", "default"); str(got, "Policy") != string(doc) {
		t.Fatalf("get-key-policy: %v", got)
	}
	if names, _ := field(d.ok("list-key-policies", "--key-id", keyID), "PolicyNames").([]any); len(names) != 1 || names[0] != "default" {
		t.Fatalf("list-key-policies: %v", names)
	}
	if r := asUser("describe-key", "--key-id", keyID); r.code != 0 {
		t.Fatalf("the user, named by the key policy, describe-key: exit %d: %s", r.code, r.stderr)
	}
	refused := func(r result, what string) {
		t.Helper()
		if r.code != 254 || !strings.Contains(r.stderr, "(AccessDeniedException)") {
			t.Fatalf("%s: exit %d, stderr %q; want AccessDeniedException", what, r.code, r.stderr)
		}
	}
	refused(asUser("encrypt", "--key-id", keyID, "--plaintext", b64("hello"), "--encryption-context", "tenant=acme"), "encrypt before the grant")

	g := d.ok("create-grant", "--key-id", keyID, "--grantee-principal", userARN, "--operations", "Encrypt", "Decrypt",
		"--constraints", "EncryptionContextSubset={tenant=acme}", "--name", "e2e")
	grantID := str(g, "GrantId")
	if len(grantID) != 64 || str(g, "GrantToken") == "" {
		t.Fatalf("create-grant: %v", g)
	}
	if again := d.ok("create-grant", "--key-id", keyID, "--grantee-principal", userARN, "--operations", "Encrypt,Decrypt",
		"--constraints", "EncryptionContextSubset={tenant=acme}", "--name", "e2e"); str(again, "GrantId") != grantID {
		t.Fatalf("create-grant again by name: %v, want grant %s", again, grantID)
	}
	grants, _ := field(d.ok("list-grants", "--key-id", keyID), "Grants").([]any)
	if len(grants) != 1 || str(grants[0].(map[string]any), "GranteePrincipal") != userARN {
		t.Fatalf("list-grants: %v", grants)
	}

	enc := asUser("encrypt", "--key-id", keyID, "--plaintext", b64("hello"), "--encryption-context", "tenant=acme",
		"--grant-tokens", str(g, "GrantToken"))
	if enc.code != 0 {
		t.Fatalf("the grantee's encrypt: exit %d: %s", enc.code, enc.stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(enc.stdout), &out); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(t.TempDir(), "ct")
	if err := os.WriteFile(blob, decodeB64(t, str(out, "CiphertextBlob")), 0o600); err != nil {
		t.Fatal(err)
	}
	dec := asUser("decrypt", "--ciphertext-blob", "fileb://"+blob, "--encryption-context", "tenant=acme")
	if dec.code != 0 || !strings.Contains(dec.stdout, b64("hello")) {
		t.Fatalf("the grantee's decrypt: exit %d: %s %s", dec.code, dec.stdout, dec.stderr)
	}
	refused(asUser("encrypt", "--key-id", keyID, "--plaintext", b64("hello"), "--encryption-context", "tenant=other"), "encrypt outside the constraint")
	refused(asUser("generate-data-key", "--key-id", keyID, "--key-spec", "AES_256", "--encryption-context", "tenant=acme"), "an operation the grant does not allow")
	refused(asUser("revoke-grant", "--key-id", keyID, "--grant-id", grantID), "the grantee revoking")

	d.ok("revoke-grant", "--key-id", keyID, "--grant-id", grantID)
	refused(asUser("encrypt", "--key-id", keyID, "--plaintext", b64("hello"), "--encryption-context", "tenant=acme"), "encrypt after revoke-grant")
	refused(asUser("decrypt", "--ciphertext-blob", "fileb://"+blob, "--encryption-context", "tenant=acme"), "decrypt after revoke-grant")
	if grants, _ := field(d.ok("list-grants", "--key-id", keyID), "Grants").([]any); len(grants) != 0 {
		t.Fatalf("list-grants after revoke-grant: %v", grants)
	}
}
