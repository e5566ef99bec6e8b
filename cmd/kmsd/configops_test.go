package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/server"
)

// TestOpsConfig: the quota and connection settings come from defaults,
// the file (YAML or TOML) and flags, in that order, and reach the server
// as its RateLimits and ConnLimits.
func TestOpsConfig(t *testing.T) {
	yml := writeConfig(t, "kmsd.yaml", "dev: true\nrate_limit_crypto: 50\nrate_limit_crypto_burst: 5\ngrpc_idle_timeout: 2m\n")
	tml := writeConfig(t, "kmsd.toml", "dev = true\nrate_limits = false\ngrpc_max_concurrent_streams = 64\ngrpc_handshake_timeout = \"3s\"\n")
	for _, c := range []struct {
		args  []string
		rates server.RateLimits
		conns server.ConnLimits
	}{
		{[]string{"--dev"}, server.DefaultRateLimits, server.DefaultConnLimits},
		{[]string{"--config", yml}, withCrypto(server.DefaultRateLimits, 50, 5), withIdle(server.DefaultConnLimits, 2*time.Minute)},
		{[]string{"--config", yml, "--rate-limit-crypto", "70", "--rate-limit-mutation-burst", "9", "--grpc-max-connections", "-1"},
			withMutationBurst(withCrypto(server.DefaultRateLimits, 70, 5), 9),
			withMaxConns(withIdle(server.DefaultConnLimits, 2*time.Minute), -1)},
		{[]string{"--config", tml}, server.RateLimits{}, withStreams(withHandshake(server.DefaultConnLimits, 3*time.Second), 64)},
		{[]string{"--dev", "--rate-limits=false", "--grpc-keepalive-min-time", "30s"}, server.RateLimits{},
			withKeepalive(server.DefaultConnLimits, 30*time.Second)},
	} {
		cfg, err := loadConfig(c.args, io.Discard)
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got := cfg.rateLimits(); got != c.rates {
			t.Errorf("%v: rate limits %+v, want %+v", c.args, got, c.rates)
		}
		if got := cfg.connLimits(); got != c.conns {
			t.Errorf("%v: connection limits %+v, want %+v", c.args, got, c.conns)
		}
	}
}

func withCrypto(r server.RateLimits, rate float64, burst int) server.RateLimits {
	r.Crypto = server.Bucket{Rate: rate, Burst: burst}
	return r
}

func withMutationBurst(r server.RateLimits, burst int) server.RateLimits {
	r.Mutation.Burst = burst
	return r
}

func withIdle(c server.ConnLimits, d time.Duration) server.ConnLimits { c.IdleTimeout = d; return c }
func withHandshake(c server.ConnLimits, d time.Duration) server.ConnLimits {
	c.HandshakeTimeout = d
	return c
}
func withKeepalive(c server.ConnLimits, d time.Duration) server.ConnLimits {
	c.KeepaliveMinTime = d
	return c
}
func withStreams(c server.ConnLimits, n uint32) server.ConnLimits {
	c.MaxConcurrentStreams = n
	return c
}
func withMaxConns(c server.ConnLimits, n int) server.ConnLimits { c.MaxConnections = n; return c }

// TestOpsConfigRefusals: a bad quota or connection setting is refused with
// its name, from a flag or a file.
func TestOpsConfigRefusals(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--dev", "--rate-limit-crypto", "-1"}, "rate_limit_crypto"},
		{[]string{"--dev", "--rate-limit-read", "10", "--rate-limit-read-burst", "0"}, "rate_limit_read_burst"},
		{[]string{"--dev", "--rate-limit-global", "NaN"}, "rate_limit_global"},
		{[]string{"--dev", "--grpc-max-concurrent-streams", "0"}, "grpc_max_concurrent_streams"},
		{[]string{"--dev", "--grpc-max-connections", "0"}, "grpc_max_connections"},
		{[]string{"--dev", "--grpc-handshake-timeout", "1ms"}, "grpc_handshake_timeout"},
		{[]string{"--dev", "--grpc-idle-timeout", "10ms"}, "grpc_idle_timeout"},
		{[]string{"--dev", "--grpc-keepalive-min-time", "0s"}, "grpc_keepalive_min_time"},
		{[]string{"--config", writeConfig(t, "a.yaml", "dev: true\nrate_limit_mutation_burst: -3\nrate_limit_mutation: 5\n")}, "rate_limit_mutation_burst"},
		{[]string{"--config", writeConfig(t, "a.toml", "dev = true\nrate_limit_cryto = 5.0\n")}, "rate_limit_cryto"},
		{[]string{"--config", writeConfig(t, "b.yaml", "dev: true\ngrpc_idle: 5m\n")}, "grpc_idle"},
	} {
		_, err := loadConfig(c.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want an error naming %s", c.args, err, c.want)
		}
	}
	// Rates of 0 with bursts of 0 are accepted: no limit.
	if _, err := loadConfig([]string{"--dev", "--rate-limit-read", "0", "--rate-limit-read-burst", "0"}, io.Discard); err != nil {
		t.Errorf("rate 0 burst 0: %v", err)
	}
}

// TestOpsConfigEnvironment: the quota and connection settings are read
// from KMSD_* variables like every other.
func TestOpsConfigEnvironment(t *testing.T) {
	t.Setenv("KMSD_RATE_LIMIT_CRYPTO", "70")
	t.Setenv("KMSD_GRPC_MAX_CONCURRENT_STREAMS", "32")
	t.Setenv("KMSD_RATE_LIMITS", "true")
	cfg, err := loadConfig([]string{"--dev"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.rateLimits().Crypto.Rate; got != 70 {
		t.Errorf("crypto rate %v, want 70", got)
	}
	if got := cfg.connLimits().MaxConcurrentStreams; got != 32 {
		t.Errorf("max concurrent streams %d, want 32", got)
	}
	t.Setenv("KMSD_GRPC_IDLE_TIMEOUT", "1ms")
	if _, err := loadConfig([]string{"--dev"}, io.Discard); err == nil || !strings.Contains(err.Error(), "grpc_idle_timeout") {
		t.Errorf("a bad KMSD_GRPC_IDLE_TIMEOUT: %v", err)
	}
}
