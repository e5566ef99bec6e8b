package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigPrecedence(t *testing.T) {
	yml := writeConfig(t, "kmsd.yaml", "grpc_addr: 127.0.0.1:9000\nnode_id: from-file\nraft_timeout: 2s\ndev: true\n")
	tml := writeConfig(t, "kmsd.toml", "grpc_addr = \"127.0.0.1:9001\"\nnode_id = \"from-toml\"\nscheduler_interval = \"5m\"\ndev = true\n")
	for _, c := range []struct {
		args             []string
		grpc, node, data string
		raft, scheduler  time.Duration
	}{
		{[]string{"--dev"}, "127.0.0.1:7400", "kmsd-1", "./kmsd-data", 500 * time.Millisecond, time.Minute},
		{[]string{"--config", yml}, "127.0.0.1:9000", "from-file", "./kmsd-data", 2 * time.Second, time.Minute},
		{[]string{"--config", yml, "--node-id", "from-flag", "--data-dir", "/x"}, "127.0.0.1:9000", "from-flag", "/x", 2 * time.Second, time.Minute},
		{[]string{"--node-id", "from-flag", "--config", tml}, "127.0.0.1:9001", "from-flag", "./kmsd-data", 500 * time.Millisecond, 5 * time.Minute},
	} {
		cfg, err := loadConfig(c.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if cfg.GRPCAddr != c.grpc || cfg.NodeID != c.node || cfg.DataDir != c.data ||
			time.Duration(cfg.RaftTimeout) != c.raft || time.Duration(cfg.SchedulerInterval) != c.scheduler {
			t.Errorf("%v: got %+v", c.args, cfg)
		}
	}
}

func TestConfigRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no root key", nil, "root_key_file is required"},
		{"unknown yaml key", []string{"--config", writeConfig(t, "a.yaml", "grpc_adr: x\n")}, "grpc_adr"},
		{"unknown toml key", []string{"--config", writeConfig(t, "a.toml", "nodeid = \"x\"\n")}, "nodeid"},
		{"bad file type", []string{"--config", writeConfig(t, "a.json", "{}")}, "unknown file type"},
		{"missing file", []string{"--config", "/nonexistent/kmsd.yaml"}, "no such file"},
		{"bad address", []string{"--dev", "--grpc-addr", "7400"}, "grpc_addr"},
		{"bad account", []string{"--dev", "--account-id", "abc"}, "account_id"},
		{"bad region", []string{"--dev", "--region", "us:east"}, "region"},
		{"bad level", []string{"--dev", "--log-level", "loud"}, "log_level"},
		{"bad format", []string{"--dev", "--log-format", "xml"}, "log_format"},
		{"bad duration", []string{"--dev", "--raft-timeout", "soon"}, "raft-timeout"},
		{"short raft timeout", []string{"--dev", "--raft-timeout", "1ms"}, "raft_timeout"},
		{"zero snapshot threshold", []string{"--dev", "--snapshot-threshold", "0"}, "snapshot_threshold"},
		{"extra argument", []string{"--dev", "serve"}, "unexpected argument"},
		{"peers with dev", []string{"--dev", "--peers", "kmsd-1=127.0.0.1:1/127.0.0.1:2"}, "single node"},
		{"peer without addresses", []string{"--root-key-file", "k", "--peers", "kmsd-1"}, "ID=RAFT_ADDR/GRPC_ADDR"},
		{"peer with a bad address", []string{"--root-key-file", "k", "--peers", "kmsd-1=127.0.0.1/127.0.0.1:2"}, "HOST:PORT"},
		{"peers without this node", []string{"--root-key-file", "k", "--peers", "a=127.0.0.1:1/127.0.0.1:2"}, "does not list this node"},
		{"peer twice", []string{"--root-key-file", "k", "--node-id", "a", "--peers", "a=127.0.0.1:1/127.0.0.1:2,a=127.0.0.1:3/127.0.0.1:4"}, "twice"},
		{"audit retention too short", []string{"--dev", "--audit-retention", "10m"}, "audit_retention"},
		{"no audit outside dev", []string{"--root-key-file", "k", "--insecure-no-audit"}, "insecure_no_audit"},
		{"unknown flag", []string{"--bogus"}, "bogus"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadConfig(c.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

func TestPrepareDataDir(t *testing.T) {
	base := t.TempDir()
	fresh := filepath.Join(base, "fresh")
	if err := prepareDataDir(fresh); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(fresh); fi.Mode().Perm() != 0o700 {
		t.Fatalf("created with mode %v", fi.Mode())
	}
	for _, mode := range []os.FileMode{0o750, 0o755, 0o701, 0o777} {
		dir := filepath.Join(base, mode.String())
		os.Mkdir(dir, mode)
		os.Chmod(dir, mode)
		if err := prepareDataDir(dir); err == nil || !strings.Contains(err.Error(), "chmod 700") {
			t.Errorf("mode %04o: %v", mode, err)
		}
	}
	f := filepath.Join(base, "file")
	os.WriteFile(f, nil, 0o600)
	if err := prepareDataDir(f); err == nil {
		t.Error("a file accepted as data dir")
	}
}

func TestLockDataDir(t *testing.T) {
	dir := t.TempDir()
	l, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataDir(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second lock: %v", err)
	}
	l.Close()
	l2, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	l2.Close()
}
