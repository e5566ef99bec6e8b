package e2e

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestAuditCommandsThroughKmsctl drives the audit commands of the real
// kmsctl against the real daemon: lookup, export, offline and live verify
// (an edited export names the edited record), prove and re-check a proof
// offline, and tail until interrupted.
func TestAuditCommandsThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	keyID := str(d.ok("create-key", "--description", "audited"), "KeyMetadata.KeyId")
	for range 3 {
		d.ok("encrypt", "--key-id", keyID, "--plaintext", "aGVsbG8=")
	}
	d.fails("NotFoundException", "describe-key", "--key-id", "alias/missing")

	pubFile := filepath.Join(dir, "kmsd-audit.pub")
	r := d.ctl(nil, "audit", "public-key", "--query", "PublicKey", "--output", "text")
	if r.code != 0 || os.WriteFile(pubFile, []byte(r.stdout), 0o600) != nil {
		t.Fatalf("audit public-key: exit %d: %s", r.code, r.stderr)
	}

	found := d.ok("audit", "lookup", "--event-name", "Encrypt", "--key-id", keyID)
	events, _ := found["Events"].([]any)
	if len(events) != 3 {
		t.Fatalf("lookup found %d Encrypt records, want 3: %v", len(events), found)
	}
	eventID, _ := events[0].(map[string]any)["eventID"].(string)
	denied := d.ok("audit", "lookup", "--error-code", "NotFoundException", "--max-items", "1")
	if ev, _ := denied["Events"].([]any); len(ev) != 1 {
		t.Fatalf("lookup of the failed call: %v", denied)
	}

	export := filepath.Join(dir, "audit.json")
	if sum := d.ok("audit", "export", "--outfile", export, "--public-key-file", pubFile); sum["Verified"] != true {
		t.Fatalf("export: %v", sum)
	}
	d.ok("audit", "verify", "--file", export, "--public-key-file", pubFile)
	d.ok("audit", "verify", "--public-key-file", pubFile)

	// Edit the second Encrypt record of the export: verify names it.
	raw, err := os.ReadFile(export)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(raw), "\n")
	edited, seen := -1, 0
	for i, l := range lines {
		if strings.Contains(l, `"eventName":"Encrypt"`) {
			if seen++; seen == 2 {
				lines[i] = strings.Replace(l, `"eventName":"Encrypt"`, `"eventName":"Decrypt"`, 1)
				edited = i - 1 // line 0 opens the Records array
				break
			}
		}
	}
	os.WriteFile(export, []byte(strings.Join(lines, "\n")), 0o600)
	r = d.ctl(nil, "audit", "verify", "--file", export, "--public-key-file", pubFile)
	if want := fmt.Sprintf("log tampered at record %d:", edited); r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("verify of an edited export: exit %d, stderr %q; want 1 and %q", r.code, r.stderr, want)
	}

	r = d.ctl(nil, "audit", "prove", "--event-id", eventID, "--public-key-file", pubFile)
	proof := filepath.Join(dir, "proof.json")
	if r.code != 0 || os.WriteFile(proof, []byte(r.stdout), 0o600) != nil {
		t.Fatalf("audit prove: exit %d: %s", r.code, r.stderr)
	}
	if got := d.ok("audit", "prove", "--file", proof, "--public-key-file", pubFile); got["EventId"] != eventID {
		t.Fatalf("prove --file: %v", got)
	}

	tailUntilInterrupted(t, d)
}

// tailUntilInterrupted runs audit tail from the first record, reads a
// line, interrupts it and expects exit status 130.
func tailUntilInterrupted(t *testing.T, d *daemon) {
	cmd := exec.Command(kmsctlBin, "audit", "tail", "--start-index", "0")
	cmd.Env = append(append(os.Environ(), "KMS_ENDPOINT="+d.grpcAddr), d.credentialEnv()...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, `{"eventVersion":`) {
		t.Fatalf("audit tail printed %q (%v); %s", line, err, stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("audit tail did not stop on SIGINT")
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("audit tail after SIGINT: %v; want exit status 130", err)
	}
}

// TestShowEventIDThenProve: kmsctl --show-event-id prints the event id of
// a call's record, of a failed call too, and audit prove proves that very
// record against a signed head.
func TestShowEventIDThenProve(t *testing.T) {
	d := startDaemon(t)
	keyID := str(d.ok("create-key", "--description", "event ids"), "KeyMetadata.KeyId")
	for i, c := range []struct {
		args  []string
		code  int
		event string // the record's eventName
		error string // its errorCode
	}{
		{[]string{"encrypt", "--key-id", keyID, "--plaintext", "aGVsbG8="}, 0, "Encrypt", ""},
		{[]string{"describe-key", "--key-id", "alias/missing"}, 254, "DescribeKey", "NotFoundException"},
	} {
		r := d.ctl(nil, append([]string{"--show-event-id"}, c.args...)...)
		id, ok := strings.CutPrefix(strings.SplitN(r.stderr, "\n", 2)[0], "EventId: ")
		if r.code != c.code || !ok || id == "" {
			t.Fatalf("Test %d: exit %d, stderr %q; want %d and an EventId line first", i, r.code, r.stderr, c.code)
		}
		rec, _ := d.ok("audit", "prove", "--event-id", id)["Record"].(map[string]any)
		if rec["eventID"] != id || rec["eventName"] != c.event || (c.error != "" && rec["errorCode"] != c.error) {
			t.Errorf("Test %d: event %s proved record %v", i, id, rec)
		}
	}
	if r := d.ctl(nil, "describe-key", "--key-id", keyID); r.code != 0 || strings.Contains(r.stderr, "EventId") {
		t.Errorf("without --show-event-id: exit %d, stderr %q", r.code, r.stderr)
	}
}
