package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runKmsd runs kmsd with args and expects it to exit by itself.
func runKmsd(t testing.TB, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(kmsdBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("kmsd %v kept running; want it to refuse to start\n%s", args, out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

func TestStartupRefusals(t *testing.T) {
	base := t.TempDir()
	rootKey := filepath.Join(base, "root.key")
	if out, code := runKmsd(t, "init", "--root-key-file", rootKey); code != 0 {
		t.Fatalf("kmsd init: %d %s", code, out)
	}
	if out, code := runKmsd(t, "init", "--root-key-file", rootKey); code == 0 {
		t.Fatalf("kmsd init overwrote an existing root key: %s", out)
	}
	openKey := filepath.Join(base, "open.key")
	b, _ := os.ReadFile(rootKey)
	os.WriteFile(openKey, b, 0o644)
	os.Chmod(openKey, 0o644)
	otherKey := filepath.Join(base, "other.key")
	runKmsd(t, "init", "--root-key-file", otherKey)
	openDir := filepath.Join(base, "open-dir")
	os.Mkdir(openDir, 0o755)
	os.Chmod(openDir, 0o755)
	badYAML := filepath.Join(base, "bad.yaml")
	os.WriteFile(badYAML, []byte("data_dirr: /tmp/x\n"), 0o600)
	badTOML := filepath.Join(base, "bad.toml")
	os.WriteFile(badTOML, []byte("grpc_addr = \"nonsense\"\n"), 0o600)

	// A daemon that is running holds its data dir.
	d := startDaemon(t)
	used := filepath.Join(base, "used")
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no root key", []string{"--data-dir", filepath.Join(base, "d1")}, "root_key_file is required"},
		{"missing root key file", []string{"--data-dir", filepath.Join(base, "d2"), "--root-key-file", filepath.Join(base, "nope")}, "no such file"},
		{"root key readable by others", []string{"--data-dir", filepath.Join(base, "d3"), "--root-key-file", openKey}, "chmod 600"},
		{"data dir readable by others", []string{"--data-dir", openDir, "--root-key-file", rootKey}, "chmod 700"},
		{"unknown setting", []string{"--config", badYAML}, "data_dirr"},
		{"bad address", []string{"--config", badTOML, "--dev"}, "grpc_addr"},
		{"bad flag", []string{"--no-such-flag"}, "no-such-flag"},
		{"data dir in use", append([]string{}, d.args...), "in use"},
		{"bad account id", []string{"--dev", "--data-dir", filepath.Join(base, "d4"), "--account-id", "12"}, "account_id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, code := runKmsd(t, c.args...)
			if code == 0 || !strings.Contains(out, c.want) {
				t.Fatalf("exit %d, output %q; want a refusal mentioning %q", code, out, c.want)
			}
		})
	}
	// A data dir created with one root key refuses another.
	first := newDaemon(t)
	first.dataDir = used
	first.args = []string{"--data-dir", used, "--root-key-file", rootKey, "--grpc-addr", first.grpcAddr,
		"--http-addr", first.httpAddr, "--raft-addr", freeAddr(t)}
	first.start()
	first.stop()
	args := append(append([]string{}, first.args[:2]...), "--root-key-file", otherKey)
	args = append(args, first.args[4:]...)
	if out, code := runKmsd(t, args...); code == 0 || !strings.Contains(out, "root key does not match") {
		t.Fatalf("started with the wrong root key: exit %d %s", code, out)
	}
}
