package main

import (
	"strings"
	"testing"
)

// TestShowEventID: with --show-event-id every KMS call kmsd answers, failed
// or not, prints its record's event id to standard error, one line per
// call; the audit commands and runs without the flag print none.
func TestShowEventID(t *testing.T) {
	_, addr := startFake(t)
	for i, c := range []struct {
		args   []string
		code   int
		stderr string // exactly, or as a prefix when the call fails
		stdout string // in stdout
	}{
		{[]string{"--show-event-id", "describe-key", "--key-id", "k0"}, 0, "EventId: evt-kms-1\n", `"KeyId": "k0"`},
		{[]string{"describe-key", "--key-id", "k0", "--show-event-id"}, 0, "EventId: evt-kms-2\n", `"KeyId": "k0"`},
		{[]string{"--show-event-id", "describe-key", "--key-id", "missing"}, 254,
			"EventId: evt-kms-3\nAn error occurred (NotFoundException) when calling the DescribeKey operation", ""},
		{[]string{"--show-event-id", "list-keys", "--query", "Keys[].KeyId", "--output", "text"}, 0,
			"EventId: evt-kms-4\nEventId: evt-kms-5\nEventId: evt-kms-6\n", "k0\tk1\tk2\tk3\tk4\n"},
		{[]string{"describe-key", "--key-id", "k0"}, 0, "", `"KeyId": "k0"`},
		{[]string{"--show-event-id", "audit", "public-key"}, 0, "", `"PublicKey"`},
		{[]string{"--show-event-id", "describe-key", "--key-id", "k0", "--no-show-event-id"}, 0, "", `"KeyId": "k0"`},
	} {
		out, errb, code := ctl(t, addr, "", c.args...)
		okErr := errb == c.stderr || (code != 0 && strings.HasPrefix(errb, c.stderr))
		if code != c.code || !okErr || !strings.Contains(out, c.stdout) {
			t.Errorf("Test %d %q: exit %d, stdout %q, stderr %q; want %d, %q and %q", i, c.args, code, out, errb, c.code, c.stdout, c.stderr)
		}
	}
}
