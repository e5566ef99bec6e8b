package deploy

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	unitFile     = "systemd/kmsd.service"
	sysusersFile = "systemd/kmsd.sysusers"
)

// unit is a parsed systemd unit file: section, then key, then every value
// the key was given, in order.
type unit map[string]map[string][]string

// parseUnit parses the INI syntax of systemd unit files: [Section] headers,
// Key=Value lines, # and ; comments, and lines continued by a final
// backslash.
func parseUnit(b []byte) (unit, error) {
	u := unit{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		for strings.HasSuffix(line, `\`) && sc.Scan() {
			n++
			line = strings.TrimSpace(strings.TrimSuffix(line, `\`)) + " " + strings.TrimSpace(sc.Text())
		}
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") {
				return nil, fmt.Errorf("line %d: bad section header %q", n, line)
			}
			section = line[1 : len(line)-1]
			if u[section] != nil {
				return nil, fmt.Errorf("line %d: section [%s] appears twice", n, section)
			}
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("line %d: %q is not Key=Value inside a section", n, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	return u, sc.Err()
}

// last returns the value that counts for a single-valued key, and whether
// the key is set.
func (u unit) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func readUnit(t *testing.T) unit {
	t.Helper()
	u, err := parseUnit(readFile(t, unitFile))
	if err != nil {
		t.Fatalf("%s: %v", unitFile, err)
	}
	return u
}

// unitStateDir is the data directory the unit gives kmsd.
func unitStateDir(t *testing.T) string {
	t.Helper()
	dir, _ := readUnit(t).last("Service", "StateDirectory")
	return "/var/lib/" + dir
}

// unitRequired are the [Service] settings the unit must have, with their
// values ("" for an empty assignment, which clears the set).
var unitRequired = map[string]string{
	"User": "kmsd", "Group": "kmsd", "Restart": "on-failure", "UMask": "0077",
	"StateDirectory": "kmsd", "StateDirectoryMode": "0700",
	"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
	"PrivateTmp": "yes", "PrivateDevices": "yes", "ProtectKernelTunables": "yes",
	"ProtectKernelModules": "yes", "ProtectKernelLogs": "yes", "ProtectControlGroups": "yes",
	"RestrictNamespaces": "yes", "RestrictSUIDSGID": "yes", "RestrictRealtime": "yes",
	"LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
	"SystemCallArchitectures": "native", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
}

func TestSystemdUnit(t *testing.T) {
	c := newChecker(t)
	defer c.report(t)
	u := readUnit(t)
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			c.errorf("%s: no [%s] section", unitFile, s)
		}
	}
	for k, want := range unitRequired {
		if got, ok := u.last("Service", k); !ok || got != want {
			c.errorf("%s: [Service] %s=%s, want %s=%s", unitFile, k, got, k, want)
		}
	}
	stateDir := unitStateDir(t)
	for key, want := range map[string]string{
		"RestrictAddressFamilies": "AF_INET AF_INET6", "SystemCallFilter": "@system-service",
		"ReadWritePaths": stateDir,
	} {
		if !strings.Contains(strings.Join(u["Service"][key], " "), want) {
			c.errorf("%s: [Service] %s does not include %s", unitFile, key, want)
		}
	}
	if v, _ := u.last("Service", "LimitNOFILE"); func() bool { n, err := strconv.Atoi(v); return err != nil || n < 4096 }() {
		c.errorf("%s: LimitNOFILE=%q, want a number of at least 4096", unitFile, v)
	}
	if v, _ := u.last("Install", "WantedBy"); v != "multi-user.target" {
		c.errorf("%s: WantedBy=%q, want multi-user.target", unitFile, v)
	}
	exec := u["Service"]["ExecStart"]
	if len(exec) != 1 {
		t.Fatalf("%s: %d ExecStart lines, want 1", unitFile, len(exec))
	}
	args := strings.Fields(exec[0])
	if !filepath.IsAbs(args[0]) || filepath.Base(args[0]) != "kmsd" {
		c.errorf("%s: ExecStart runs %q, want an absolute path to kmsd", unitFile, args[0])
	}
	cfg := c.withFlags(unitFile, config{}, args[1:])
	if p := cfg.str("config"); !strings.HasPrefix(p, "/etc/kmsd/") || !strings.HasSuffix(p, ".yaml") {
		c.errorf("%s: ExecStart reads configuration %q, want /etc/kmsd/*.yaml", unitFile, p)
	}
}

// TestSystemdUnitVerify runs systemd-analyze verify on the unit where it is
// installed. The unit names /usr/local/bin/kmsd, which verify requires to
// exist, so a copy names a stand-in executable instead.
func TestSystemdUnitVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: only the parser checks of TestSystemdUnit ran")
		return
	}
	dir := t.TempDir()
	stand := filepath.Join(dir, "kmsd")
	if err := os.WriteFile(stand, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	b := bytes.ReplaceAll(readFile(t, unitFile), []byte("/usr/local/bin/kmsd"), []byte(stand))
	copyPath := filepath.Join(dir, "kmsd.service")
	if err := os.WriteFile(copyPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", copyPath).CombinedOutput()
	// verify exits 0 on unknown keys; any message is a finding.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", unitFile, err, out)
	}
}

func TestSystemdSysusers(t *testing.T) {
	b := readFile(t, sysusersFile)
	var lines [][]string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && l[0] != '#' {
			lines = append(lines, strings.Fields(l))
		}
	}
	user, _ := readUnit(t).last("Service", "User")
	if len(lines) != 1 || len(lines[0]) < 2 || lines[0][0] != "u" || lines[0][1] != user {
		t.Errorf("%s: want one line creating user %q, have %q", sysusersFile, user, lines)
	}
	sysusers, err := exec.LookPath("systemd-sysusers")
	if err != nil {
		t.Log("systemd-sysusers is not installed: its dry run was not made")
		return
	}
	path, err := filepath.Abs(sysusersFile)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(sysusers, "--root="+t.TempDir(), "--dry-run", path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Creating user '"+user+"'")) {
		t.Errorf("systemd-sysusers --dry-run %s: %v\n%s", sysusersFile, err, out)
	}
}

func TestParseUnitRejects(t *testing.T) {
	for i, s := range []string{"Key=1\n", "[Unit]\nno equals sign\n", "[Unit\n", "[A]\n[A]\n"} {
		if _, err := parseUnit([]byte(s)); err == nil {
			t.Errorf("Test %d: %q parsed", i, s)
		}
	}
	u, err := parseUnit([]byte("[S]\nA=1 \\\n  2\nA=3\n"))
	if err != nil || len(u["S"]["A"]) != 2 || u["S"]["A"][0] != "1 2" {
		t.Errorf("continuation or repeated key: %v %v", u, err)
	}
}
