package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeWalkthrough runs the shell blocks of the README's kmsctl
// walkthrough, as written, against a real daemon, so the documentation
// cannot drift from the product.
func TestReadmeWalkthrough(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	script := walkthroughScript(t, string(readme))
	d := startDaemon(t)
	dir := t.TempDir()
	// The walkthrough builds kmsctl in the current directory; use the binary
	// built for the tests instead.
	script = strings.ReplaceAll(script, "go build -o kmsctl ./cmd/kmsctl", "cp "+kmsctlBin+" ./kmsctl")
	script = strings.ReplaceAll(script, "./kmsd-data/dev-credentials", filepath.Join(d.dataDir, "dev-credentials"))
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KMS_ENDPOINT="+d.grpcAddr)
	out, err := cmd.CombinedOutput()
	transcript := string(out)
	t.Logf("walkthrough output:\n%s", transcript)
	if err != nil {
		t.Fatalf("walkthrough script failed: %v", err)
	}
	if n := strings.Count(transcript, "An error occurred"); n != 1 || !strings.Contains(transcript, "An error occurred (DisabledException) when calling the Encrypt operation") {
		t.Fatalf("want exactly the one documented DisabledException, got %d errors", n)
	}
	if strings.Contains(transcript, "kmsctl") || strings.Contains(transcript, "Could not connect") {
		t.Fatal("a walkthrough command failed locally (usage or connection error)")
	}
	for _, want := range []string{`"KeySpec": "SYMMETRIC_DEFAULT"`, `"KeyMaterialId"`, `"Plaintext"`, `"KeyState": "PendingDeletion"`, `"Arn": "arn:aws:iam::111122223333:user/app"`, `"Id": "key-default-1"`} {
		if !strings.Contains(transcript, want) {
			t.Errorf("walkthrough output lacks %s", want)
		}
	}
	if a, b := readFile(t, filepath.Join(dir, "secret.txt")), readFile(t, filepath.Join(dir, "secret.out")); string(a) != string(b) {
		t.Fatal("the walkthrough's decrypted file differs from the original")
	}
}

// walkthroughScript joins the sh blocks of the walkthrough section.
func walkthroughScript(t *testing.T, readme string) string {
	start := strings.Index(readme, "## Walkthrough with kmsctl")
	end := strings.Index(readme, "## Configuration")
	if start < 0 || end < start {
		t.Fatal("README has no walkthrough section")
	}
	section := readme[start:end]
	var script []string
	for {
		i := strings.Index(section, "```sh\n")
		if i < 0 {
			break
		}
		section = section[i+len("```sh\n"):]
		j := strings.Index(section, "```")
		script = append(script, section[:j])
		section = section[j+3:]
	}
	if len(script) < 4 {
		t.Fatalf("found only %d shell blocks in the walkthrough", len(script))
	}
	return strings.Join(script, "\n")
}
