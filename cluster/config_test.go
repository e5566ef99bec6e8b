package cluster

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

func TestConfigValidate(t *testing.T) {
	ok := Config{NodeID: "n1", BindAddr: "127.0.0.1:7401", Dir: "/tmp/x"}
	tests := []struct {
		mod   func(*Config)
		valid bool
	}{
		{func(*Config) {}, true},
		{func(c *Config) { c.AdvertiseAddr = "10.0.0.1:7401" }, true},
		{func(c *Config) { c.NodeID = "" }, false},
		{func(c *Config) { c.Dir = "" }, false},
		{func(c *Config) { c.BindAddr = "" }, false},
		{func(c *Config) { c.BindAddr = "localhost" }, false},
		{func(c *Config) { c.AdvertiseAddr = "0.0.0.0:7401" }, false},
		{func(c *Config) { c.AdvertiseAddr = "10.0.0.1:0" }, false},
		{func(c *Config) { c.ApplyTimeout = -time.Second }, false},
	}
	for i, tt := range tests {
		c := ok
		tt.mod(&c)
		if err := c.Validate(); (err == nil) != tt.valid {
			t.Errorf("Test %d: Validate(%+v) = %v", i, c, err)
		}
	}
	if err := (DefaultConfig()).Validate(); err == nil {
		t.Error("DefaultConfig without NodeID and Dir validated")
	}
}

func TestRaftConfigTimers(t *testing.T) {
	rc := Config{NodeID: "n", HeartbeatTimeout: 50 * time.Millisecond}.raftConfig(slog.New(slog.DiscardHandler))
	if rc.LeaderLeaseTimeout > rc.HeartbeatTimeout || rc.ElectionTimeout < rc.HeartbeatTimeout {
		t.Errorf("inconsistent timers: %+v", rc)
	}
}

func TestHCLogAdapter(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := newHCLogger(log, "raft").Named("snapshot").With("id", 7)
	h.Debug("hidden")
	h.Info("restored", "percent", hclog.Fmt("%0.1f%%", 99.5))
	h.StandardLogger(nil).Print("from the standard logger")
	out := buf.String()
	for _, want := range []string{"component=raft.snapshot", "id=7", "percent=99.5%", "msg=restored", "from the standard logger"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden") || h.IsDebug() || !h.IsInfo() || h.GetLevel() != hclog.Info {
		t.Errorf("levels not taken from the slog handler:\n%s", out)
	}
	if h.Name() != "raft.snapshot" || len(h.ImpliedArgs()) != 2 {
		t.Errorf("Name = %q, ImpliedArgs = %v", h.Name(), h.ImpliedArgs())
	}
}
