package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAssumeRoleThroughKmsctl: with the real binaries, the root makes a
// role and a user allowed to assume it; the user's kmsctl gets temporary
// credentials with "sts assume-role", and a kmsctl with those (and the
// session token) encrypts as the role's session and is told so by
// "sts get-caller-identity".
func TestAssumeRoleThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	acct := "111122223333"
	roleARN := "arn:aws:iam::" + acct + ":role/encryptor"
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	key := str(d.ok("create-key", "--description", "for a role"), "KeyMetadata.KeyId")
	d.ok("iam", "create-user", "--user-name", "ci")
	d.ok("iam", "put-user-policy", "--user-name", "ci", "--policy-name", "assume",
		"--policy-document", write("assume.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"`+roleARN+`"}]}`))
	ak := d.ok("iam", "create-access-key", "--user-name", "ci")
	d.ok("iam", "create-role", "--role-name", "encryptor",
		"--assume-role-policy-document", write("trust.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+acct+`:user/ci"},"Action":"sts:AssumeRole"}]}`))
	d.ok("iam", "put-role-policy", "--role-name", "encryptor", "--policy-name", "encrypt",
		"--policy-document", write("encrypt.json", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}]}`))

	asUser := []string{"KMS_ACCESS_KEY_ID=" + str(ak, "AccessKey.AccessKeyId"), "KMS_SECRET_ACCESS_KEY=" + str(ak, "AccessKey.SecretAccessKey")}
	r := d.ctlWithEnv(asUser, "sts", "assume-role", "--role-arn", roleARN, "--role-session-name", "ci-run-1", "--duration-seconds", "900")
	if r.code != 0 {
		t.Fatalf("assume-role: %d %s", r.code, r.stderr)
	}
	var creds map[string]any
	if err := jsonUnmarshal(r.stdout, &creds); err != nil {
		t.Fatal(err)
	}
	asSession := []string{"KMS_ACCESS_KEY_ID=" + str(creds, "Credentials.AccessKeyId"),
		"KMS_SECRET_ACCESS_KEY=" + str(creds, "Credentials.SecretAccessKey"), "KMS_SESSION_TOKEN=" + str(creds, "Credentials.SessionToken")}
	if r := d.ctlWithEnv(asSession, "encrypt", "--key-id", key, "--plaintext", b64("as a role")); r.code != 0 {
		t.Fatalf("encrypt with the session: %d %s", r.code, r.stderr)
	}
	if r := d.ctlWithEnv(asSession, "create-key"); r.code != 254 || !strings.Contains(r.stderr, "AccessDeniedException") {
		t.Fatalf("create-key with the session: %d %s", r.code, r.stderr)
	}
	r = d.ctlWithEnv(asSession, "sts", "get-caller-identity", "--query", "Arn", "--output", "text")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "arn:aws:sts::"+acct+":assumed-role/encryptor/ci-run-1" {
		t.Fatalf("get-caller-identity: %d %q %s", r.code, r.stdout, r.stderr)
	}
	// The user itself may not encrypt: only the role may.
	if r := d.ctlWithEnv(asUser, "encrypt", "--key-id", key, "--plaintext", b64("x")); r.code != 254 || !strings.Contains(r.stderr, "AccessDeniedException") {
		t.Fatalf("encrypt as the user: %d %s", r.code, r.stderr)
	}
}
