package main

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestCompletionCandidates: what "kmsctl __complete" offers after the
// words typed so far.
func TestCompletionCandidates(t *testing.T) {
	for _, c := range []struct {
		args []string
		want []string // all of these, and only these when only is set
		not  []string
		only bool
	}{
		{[]string{"enc"}, []string{"encrypt", "encrypt-file"}, nil, true},
		{[]string{"ia"}, []string{"iam"}, nil, true},
		{[]string{""}, []string{"create-key", "iam", "audit", "cluster", "sts", "completion", "help"}, []string{"iam create-user"}, false},
		{[]string{"iam", "create-u"}, []string{"create-user"}, nil, true},
		{[]string{"cluster", ""}, []string{"status", "join", "remove", "backup", "snapshot"}, []string{"snapshot save"}, true},
		{[]string{"cluster", "snapshot", ""}, []string{"save", "restore"}, nil, true},
		{[]string{"cluster", "snapshot", "restore", "--"}, []string{"--infile", "--endpoint"}, []string{"--key-id"}, false},
		{[]string{"iam", "list-"}, []string{"list-users", "list-mfa-devices"}, []string{"create-user"}, false},
		{[]string{"encrypt", "--"}, []string{"--key-id", "--plaintext", "--encryption-context", "--output", "--endpoint"}, []string{"--user-name"}, false},
		{[]string{"encrypt", "--key-id", "k", "--pl"}, []string{"--plaintext"}, nil, true},
		{[]string{"iam", "create-user", "--user-name", "bob", "--p"}, []string{"--path", "--profile"}, nil, true},
		{[]string{"encrypt", "--output", ""}, []string{"json", "text"}, nil, true},
		{[]string{"--output", "json", "create-k"}, []string{"create-key"}, nil, true},
		{[]string{"encrypt", "--key-id", ""}, nil, nil, true},
		{[]string{"--end"}, []string{"--endpoint"}, nil, true},
		{[]string{"no-such-command", "--"}, []string{"--endpoint"}, []string{"--key-id"}, false},
	} {
		var out bytes.Buffer
		if code := run(context.Background(), append([]string{"__complete"}, c.args...), nil, &out, &out); code != exitOK {
			t.Fatalf("%v: exit %d", c.args, code)
		}
		got := strings.Fields(out.String())
		has := map[string]bool{}
		for _, g := range got {
			has[g] = true
		}
		for _, w := range c.want {
			if !has[w] {
				t.Errorf("%q: %v lacks %s", c.args, got, w)
			}
		}
		for _, w := range c.not {
			if has[w] {
				t.Errorf("%q: %v offers %s", c.args, got, w)
			}
		}
		if c.only && len(got) != len(c.want) {
			t.Errorf("%q: %v, want exactly %v", c.args, got, c.want)
		}
	}
}

// TestCompletionScripts: each script is printed and, for the shells
// installed here, is valid syntax.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, nil, &out, &errb); code != exitOK || !strings.Contains(out.String(), "__complete") {
			t.Fatalf("completion %s: exit %d %q %s", shell, code, out.String(), errb.String())
		}
		path, err := exec.LookPath(shell)
		if err != nil {
			continue
		}
		flag := "-n"
		if shell == "fish" {
			flag = "--no-execute"
		}
		cmd := exec.Command(path, flag)
		cmd.Stdin = &out
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s %s: %v\n%s", shell, flag, err, b)
		}
	}
	var errb bytes.Buffer
	if code := run(context.Background(), []string{"completion", "tcsh"}, nil, &errb, &errb); code != exitUsage {
		t.Errorf("completion tcsh: exit %d, want %d", code, exitUsage)
	}
}
