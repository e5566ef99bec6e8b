package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestConfigEnvironment: KMSD_* variables sit between the file and the
// flags; KMSD_CONFIG names the file; a bad value names its variable; an
// unknown KMSD_ variable is refused.
func TestConfigEnvironment(t *testing.T) {
	yml := writeConfig(t, "kmsd.yaml", "grpc_addr: 127.0.0.1:9000\nnode_id: from-file\nraft_timeout: 2s\ndev: true\n")
	for _, c := range []struct {
		name       string
		args, env  []string
		grpc, node string
		raft       time.Duration
		peers      string
	}{
		{"environment over defaults", []string{"--dev"}, []string{"KMSD_NODE_ID=from-env", "KMSD_RAFT_TIMEOUT=3s"},
			"127.0.0.1:7400", "from-env", 3 * time.Second, ""},
		{"environment over the file", []string{"--config", yml}, []string{"KMSD_NODE_ID=from-env"},
			"127.0.0.1:9000", "from-env", 2 * time.Second, ""},
		{"flags over the environment", []string{"--config", yml, "--node-id", "from-flag"}, []string{"KMSD_NODE_ID=from-env", "KMSD_GRPC_ADDR=127.0.0.1:9100"},
			"127.0.0.1:9100", "from-flag", 2 * time.Second, ""},
		{"KMSD_CONFIG", nil, []string{"KMSD_CONFIG=" + yml},
			"127.0.0.1:9000", "from-file", 2 * time.Second, ""},
		{"a list", []string{"--root-key-file", "/k"}, []string{"KMSD_PEERS=kmsd-1=127.0.0.1:1/127.0.0.1:2", "KMSD_DATA_DIR=/d"},
			"127.0.0.1:7400", "kmsd-1", 500 * time.Millisecond, "kmsd-1=127.0.0.1:1/127.0.0.1:2"},
		{"other variables are not kmsd's", []string{"--dev"}, []string{"HOME=/root", "KMS_ACCESS_KEY_ID=x", "XKMSD_NODE_ID=y"},
			"127.0.0.1:7400", "kmsd-1", 500 * time.Millisecond, ""},
	} {
		cfg, err := loadConfigEnv(c.args, c.env, io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if cfg.GRPCAddr != c.grpc || cfg.NodeID != c.node || time.Duration(cfg.RaftTimeout) != c.raft || cfg.Peers.String() != c.peers {
			t.Errorf("%s: grpc %s node %s raft %v peers %q", c.name, cfg.GRPCAddr, cfg.NodeID, time.Duration(cfg.RaftTimeout), cfg.Peers.String())
		}
	}
	for _, c := range []struct {
		env  string
		want string
	}{
		{"KMSD_RAFT_TIMEOUT=soon", "KMSD_RAFT_TIMEOUT"},
		{"KMSD_SNAPSHOT_THRESHOLD=-1", "KMSD_SNAPSHOT_THRESHOLD"},
		{"KMSD_GRPC_ADR=127.0.0.1:1", "unknown environment variable KMSD_GRPC_ADR"},
		{"KMSD_ACCOUNT_ID=12", "account"},
	} {
		_, err := loadConfigEnv([]string{"--dev"}, []string{c.env}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.env, err, c.want)
		}
	}
}
