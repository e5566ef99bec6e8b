package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestServiceErrors: service errors are printed as the AWS CLI does, with
// exit status 254; an unreachable endpoint or a timeout is 255.
func TestServiceErrors(t *testing.T) {
	_, addr := startFake(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := lis.Addr().String()
	lis.Close()
	cases := []struct {
		addr   string
		args   []string
		code   int
		stderr string
	}{
		{addr, []string{"describe-key", "--key-id", "missing"}, exitServiceError,
			"An error occurred (NotFoundException) when calling the DescribeKey operation: key missing not found\n"},
		{addr, []string{"encrypt", "--key-id", "missing", "--plaintext", "eA=="}, exitServiceError,
			"An error occurred (NotFoundException) when calling the Encrypt operation: key missing not found\n"},
		{addr, []string{"generate-data-key-without-plaintext", "--key-id", "missing", "--key-spec", "AES_256"}, exitServiceError,
			"An error occurred (NotFoundException) when calling the GenerateDataKeyWithoutPlaintext operation: key missing not found\n"},
		{addr, []string{"enable-key", "--key-id", "bare"}, exitServiceError,
			"An error occurred (FailedPrecondition) when calling the EnableKey operation: no details\n"},
		{addr, []string{"describe-key", "--key-id", "slow", "--timeout", "50ms"}, exitOther, "No answer from the endpoint"},
		{closed, []string{"list-keys"}, exitOther, "Could not connect to the endpoint " + closed},
		// FILE is the one argument without "--"; a second is a mistake.
		{addr, []string{"cluster", "snapshot", "restore", "a.backup", "b.backup"}, exitUsage, `unexpected argument "b.backup"`},
		{addr, []string{"cluster", "snapshot", "restore"}, exitUsage, "--infile"},
		{addr, []string{"cluster", "snapshot", "restore", "/nonexistent/kmsd.backup"}, exitOther, "no such file"},
		{addr, []string{"cluster", "snapshot", "load", "x"}, exitUsage, `unknown command "cluster snapshot load"`},
	}
	for i, c := range cases {
		stdout, stderr, code := ctl(t, c.addr, "", c.args...)
		if code != c.code || !strings.Contains(stderr, c.stderr) {
			t.Errorf("Test %d: kmsctl %q: exit %d, stderr %q; want %d and %q", i, c.args, code, stderr, c.code, c.stderr)
		}
		if stdout != "" {
			t.Errorf("Test %d: kmsctl %q printed %q on stdout", i, c.args, stdout)
		}
	}
}

// TestEndpointFromEnvironment: KMS_ENDPOINT is used when --endpoint is
// absent.
func TestEndpointFromEnvironment(t *testing.T) {
	f, addr := startFake(t)
	t.Setenv("KMS_ENDPOINT", addr)
	var out, errb strings.Builder
	if code := run(t.Context(), []string{"enable-key", "--key-id", "k"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if len(f.requests()) != 1 {
		t.Fatalf("sent %d requests to KMS_ENDPOINT, want 1", len(f.requests()))
	}
}

// TestHelp: every command has usage with an example, reachable three ways.
func TestHelp(t *testing.T) {
	// Every API operation has a command, plus inspect-ciphertext,
	// list-key-versions and import-key-material-from-file, the six audit
	// commands (lookup, tail, export, verify, prove, public-key) and
	// cluster status, join, remove, backup, snapshot save and snapshot
	// restore; encrypt-file and decrypt-file; and an iam and an sts command
	// for every IdentityManagementService and SecurityTokenService
	// operation.
	want := len(kmsv1.KeyManagementService_ServiceDesc.Methods) + 3 + 6 + 6 + 2 +
		len(kmsv1.IdentityManagementService_ServiceDesc.Methods) + len(kmsv1.SecurityTokenService_ServiceDesc.Methods)
	if len(commands) != want {
		t.Errorf("%d commands, want %d", len(commands), want)
	}
	for name := range commands {
		words := strings.Fields(name) // "audit lookup" is two words, "cluster snapshot save" three
		for _, args := range [][]string{append([]string{"help"}, words...), append(words, "--help"),
			append(words, "help"), append([]string{"--help"}, words...)} {
			stdout, stderr, code := ctl(t, "127.0.0.1:1", "", args...)
			if code != 0 || !strings.Contains(stdout, "kmsctl "+name) || !strings.Contains(stdout, "Example:") || stderr != "" {
				t.Errorf("kmsctl %q: exit %d, stderr %q, stdout %q", args, code, stderr, stdout)
			}
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"version"}} {
		stdout, _, code := ctl(t, "127.0.0.1:1", "", args...)
		if code != 0 || stdout == "" {
			t.Errorf("kmsctl %q: exit %d, stdout %q", args, code, stdout)
		}
	}
}

// TestInterrupted: a request cut short by the caller's context (Ctrl-C)
// is not reported as a service error.
func TestInterrupted(t *testing.T) {
	_, addr := startFake(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	var out, errb strings.Builder
	code := run(ctx, []string{"--endpoint", addr, "describe-key", "--key-id", "slow"}, strings.NewReader(""), &out, &errb)
	if code != exitInterrupted || !strings.Contains(errb.String(), "interrupted") || out.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want %d and \"interrupted\"", code, out.String(), errb.String(), exitInterrupted)
	}
}
