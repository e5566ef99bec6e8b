package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestBashCompletion: the script of "kmsctl completion bash", loaded in a
// real bash with the real kmsctl on PATH, completes subcommands and flags.
func TestBashCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed:", err)
	}
	for _, c := range []struct {
		words string // the command line, the last word being typed
		want  string // COMPREPLY, joined with spaces
	}{
		{"kmsctl iam create-u", "create-user"},
		{"kmsctl sched", "schedule-key-deletion"},
		{"kmsctl encrypt --key-id k --pl", "--plaintext"},
		{"kmsctl list-keys --output t", "text"},
	} {
		words := strings.Fields(c.words)
		script := `source <(kmsctl completion bash)
COMP_WORDS=(` + strings.Join(words, " ") + `)
COMP_CWORD=` + strconv.Itoa(len(words)-1) + `
_kmsctl
echo "${COMPREPLY[*]}"`
		cmd := exec.Command(bash, "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(kmsctlBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != c.want {
			t.Errorf("%q: %q %v, want %q", c.words, out, err, c.want)
		}
	}
}
