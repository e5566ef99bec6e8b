package e2e

import (
	"bytes"
	"encoding/base64"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestIAMUserLifecycle drives the identity API through the real kmsctl and
// kmsd: a user, an access key whose secret is printed once, an inline
// policy from a file, listings, refusals, deletion. Then every file of the
// data directory and the daemon's output are searched for the secret
// access key (as text, raw, hex and base64): no hit. Positive controls
// show the search works: the access key id and a kept user's name are
// found on disk.
func TestIAMUserLifecycle(t *testing.T) {
	d := startDaemon(t)
	const user, control = "app-e2e", "control-user-3f9a1c"
	if u := d.ok("iam", "create-user", "--user-name", user, "--path", "/apps/"); str(u, "User.UserName") != user ||
		!strings.HasSuffix(str(u, "User.Arn"), ":user/apps/"+user) || !strings.HasPrefix(str(u, "User.UserId"), "AIDA") {
		t.Fatalf("create-user: %v", u)
	}
	d.ok("iam", "create-user", "--user-name", control)
	d.fails("EntityAlreadyExistsException", "iam", "create-user", "--user-name", strings.ToUpper(user))

	r := d.ctl(nil, "iam", "create-access-key", "--user-name", user)
	if r.code != 0 {
		t.Fatalf("create-access-key: exit %d: %s", r.code, r.stderr)
	}
	var created map[string]any
	if err := jsonUnmarshal(r.stdout, &created); err != nil {
		t.Fatal(err)
	}
	keyID, secret := str(created, "AccessKey.AccessKeyId"), str(created, "AccessKey.SecretAccessKey")
	if !strings.HasPrefix(keyID, "AKIA") || len(keyID) != 20 || len(secret) != 40 || str(created, "AccessKey.Status") != "Active" {
		t.Fatalf("create-access-key: %s", r.stdout)
	}
	if n := strings.Count(r.stdout, secret); n != 1 {
		t.Fatalf("the secret is printed %d times", n)
	}

	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d.ok("iam", "put-user-policy", "--user-name", user, "--policy-name", "use-keys", "--policy-document", "file://"+path)
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte(strings.Replace(doc, `"Allow"`, `"Permit"`, 1)), 0o600)
	if f := d.fails("MalformedPolicyDocumentException", "iam", "put-user-policy", "--user-name", user, "--policy-name", "x",
		"--policy-document", "file://"+bad); !strings.Contains(f.stderr, "Statement[0].Effect") {
		t.Errorf("the error does not name the bad element: %s", f.stderr)
	}
	if got := d.ok("iam", "get-user-policy", "--user-name", user, "--policy-name", "use-keys"); str(got, "PolicyDocument") != doc {
		t.Fatalf("get-user-policy: %v", got)
	}
	if names, _ := field(d.ok("iam", "list-user-policies", "--user-name", user), "PolicyNames").([]any); len(names) != 1 {
		t.Fatalf("list-user-policies: %v", names)
	}
	users, _ := field(d.ok("iam", "list-users"), "Users").([]any)
	if len(users) != 2 {
		t.Fatalf("list-users: %v", users)
	}
	keys := d.ctl(nil, "iam", "list-access-keys", "--user-name", user)
	if keys.code != 0 || !strings.Contains(keys.stdout, keyID) || strings.Contains(keys.stdout, secret) {
		t.Fatalf("list-access-keys: exit %d: %s", keys.code, keys.stdout)
	}
	d.ok("iam", "update-access-key", "--user-name", user, "--access-key-id", keyID, "--status", "Inactive")

	d.fails("DeleteConflictException", "iam", "delete-user", "--user-name", user)
	d.ok("iam", "delete-user-policy", "--user-name", user, "--policy-name", "use-keys")
	d.ok("iam", "delete-access-key", "--user-name", user, "--access-key-id", keyID)
	d.ok("iam", "delete-user", "--user-name", user)
	d.fails("NoSuchEntityException", "iam", "get-user", "--user-name", user)

	d.stop() // everything on disk
	raw, err := base64.StdEncoding.DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	forms := encodings([]byte(secret))
	for name, enc := range encodings(raw) {
		forms["decoded, "+name] = enc
	}
	var disk [][]byte
	err = filepath.WalkDir(d.dataDir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		disk = append(disk, b)
		for form, enc := range forms {
			if bytes.Contains(b, enc) {
				t.Errorf("%s holds the secret access key (%s)", p, form)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for form, enc := range forms {
		if bytes.Contains(d.log.Bytes(), enc) {
			t.Errorf("the daemon's output holds the secret access key (%s)", form)
		}
	}
	all := bytes.Join(disk, nil)
	for _, want := range []string{keyID, control} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("positive control %q not found in the %d files of the data directory: the search is broken", want, len(disk))
		}
	}
	t.Logf("%d forms of the secret searched in %d files (%d bytes) and %d bytes of output: 0 hits expected",
		len(forms), len(disk), len(all), d.log.Len())
}
