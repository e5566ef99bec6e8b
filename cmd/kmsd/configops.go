package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kmsd/kmsd/server"
)

// OpsConfig holds the settings that protect the service from its callers:
// request quotas (token buckets) and gRPC connection limits. It is part of
// Config: its settings are flags and file keys like every other.
type OpsConfig struct {
	// RateLimits turns the request quotas on. Default true.
	RateLimits bool `yaml:"rate_limits" toml:"rate_limits"`
	// Per principal: requests per second and burst of the cryptographic
	// operations together (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
	// GenerateRandom), of the calls that only read, and of all other calls.
	// Defaults 5500/5500, 1000/1000, 100/200. A rate of 0 is no limit.
	RateLimitCrypto        float64 `yaml:"rate_limit_crypto" toml:"rate_limit_crypto"`
	RateLimitCryptoBurst   int     `yaml:"rate_limit_crypto_burst" toml:"rate_limit_crypto_burst"`
	RateLimitRead          float64 `yaml:"rate_limit_read" toml:"rate_limit_read"`
	RateLimitReadBurst     int     `yaml:"rate_limit_read_burst" toml:"rate_limit_read_burst"`
	RateLimitMutation      float64 `yaml:"rate_limit_mutation" toml:"rate_limit_mutation"`
	RateLimitMutationBurst int     `yaml:"rate_limit_mutation_burst" toml:"rate_limit_mutation_burst"`
	// RateLimitGlobal bounds every call to this node, whoever makes it.
	// Default 20000/20000.
	RateLimitGlobal      float64 `yaml:"rate_limit_global" toml:"rate_limit_global"`
	RateLimitGlobalBurst int     `yaml:"rate_limit_global_burst" toml:"rate_limit_global_burst"`
	// GRPCMaxConcurrentStreams bounds the calls one connection runs at
	// once. Default 128.
	GRPCMaxConcurrentStreams uint32 `yaml:"grpc_max_concurrent_streams" toml:"grpc_max_concurrent_streams"`
	// GRPCMaxConnections bounds the open gRPC connections; more wait to be
	// accepted. Default 4096.
	GRPCMaxConnections int `yaml:"grpc_max_connections" toml:"grpc_max_connections"`
	// GRPCHandshakeTimeout drops a connection whose TLS and HTTP/2
	// handshakes take longer. Default 10s.
	GRPCHandshakeTimeout Duration `yaml:"grpc_handshake_timeout" toml:"grpc_handshake_timeout"`
	// GRPCIdleTimeout closes a connection without calls for this long.
	// Default 15m.
	GRPCIdleTimeout Duration `yaml:"grpc_idle_timeout" toml:"grpc_idle_timeout"`
	// GRPCKeepaliveMinTime is the shortest keepalive ping interval a client
	// may use before it is disconnected. Default 10s.
	GRPCKeepaliveMinTime Duration `yaml:"grpc_keepalive_min_time" toml:"grpc_keepalive_min_time"`
	// MinFreeDisk is the free space kept in reserve on the data
	// directory's file system: below it the node takes nothing that must
	// be written (diskguard.go). Default DefaultMinFreeDisk; 0: off.
	MinFreeDisk ByteSize `yaml:"min_free_disk" toml:"min_free_disk"`
}

func defaultOpsConfig() OpsConfig {
	r, c := server.DefaultRateLimits, server.DefaultConnLimits
	return OpsConfig{
		RateLimits:      true,
		RateLimitCrypto: r.Crypto.Rate, RateLimitCryptoBurst: r.Crypto.Burst,
		RateLimitRead: r.Read.Rate, RateLimitReadBurst: r.Read.Burst,
		RateLimitMutation: r.Mutation.Rate, RateLimitMutationBurst: r.Mutation.Burst,
		RateLimitGlobal: r.Global.Rate, RateLimitGlobalBurst: r.Global.Burst,
		GRPCMaxConcurrentStreams: c.MaxConcurrentStreams, GRPCMaxConnections: c.MaxConnections,
		GRPCHandshakeTimeout: Duration(c.HandshakeTimeout), GRPCIdleTimeout: Duration(c.IdleTimeout),
		GRPCKeepaliveMinTime: Duration(c.KeepaliveMinTime),
		MinFreeDisk:          DefaultMinFreeDisk,
	}
}

// rateLimits returns the server's quotas; none with RateLimits off.
func (o OpsConfig) rateLimits() server.RateLimits {
	if !o.RateLimits {
		return server.RateLimits{}
	}
	return server.RateLimits{
		Crypto:   server.Bucket{Rate: o.RateLimitCrypto, Burst: o.RateLimitCryptoBurst},
		Read:     server.Bucket{Rate: o.RateLimitRead, Burst: o.RateLimitReadBurst},
		Mutation: server.Bucket{Rate: o.RateLimitMutation, Burst: o.RateLimitMutationBurst},
		Global:   server.Bucket{Rate: o.RateLimitGlobal, Burst: o.RateLimitGlobalBurst},
	}
}

// connLimits returns the server's connection limits.
func (o OpsConfig) connLimits() server.ConnLimits {
	return server.ConnLimits{
		MaxConcurrentStreams: o.GRPCMaxConcurrentStreams, MaxConnections: o.GRPCMaxConnections,
		HandshakeTimeout: time.Duration(o.GRPCHandshakeTimeout), IdleTimeout: time.Duration(o.GRPCIdleTimeout),
		KeepaliveMinTime: time.Duration(o.GRPCKeepaliveMinTime),
	}
}

// opsRates names the rate settings, their bursts, and their fields.
func (o *OpsConfig) opsRates() []struct {
	name  string
	rate  *float64
	burst *int
} {
	return []struct {
		name  string
		rate  *float64
		burst *int
	}{
		{"rate_limit_crypto", &o.RateLimitCrypto, &o.RateLimitCryptoBurst},
		{"rate_limit_read", &o.RateLimitRead, &o.RateLimitReadBurst},
		{"rate_limit_mutation", &o.RateLimitMutation, &o.RateLimitMutationBurst},
		{"rate_limit_global", &o.RateLimitGlobal, &o.RateLimitGlobalBurst},
	}
}

func bindOpsFlags(fs *flag.FlagSet, o *OpsConfig) {
	fs.BoolVar(&o.RateLimits, "rate-limits", o.RateLimits, "apply the request quotas (--rate-limits=false: none)")
	for _, r := range o.opsRates() {
		flagName := dashed(r.name)
		fs.Float64Var(r.rate, flagName, *r.rate, "requests per second (0: no limit) of the "+quotaDoc[r.name])
		fs.IntVar(r.burst, flagName+"-burst", *r.burst, "burst of the "+quotaDoc[r.name])
	}
	fs.Func("grpc-max-concurrent-streams", "calls one gRPC connection may run at once (default 128)", func(s string) error {
		v, err := strconv.ParseUint(s, 10, 32)
		o.GRPCMaxConcurrentStreams = uint32(v)
		return err
	})
	fs.IntVar(&o.GRPCMaxConnections, "grpc-max-connections", o.GRPCMaxConnections, "open gRPC connections at most (-1: no limit)")
	durationFlag(fs, &o.GRPCHandshakeTimeout, "grpc-handshake-timeout", "drop a gRPC connection whose TLS/HTTP/2 handshake takes longer (default 10s)")
	durationFlag(fs, &o.GRPCIdleTimeout, "grpc-idle-timeout", "close a gRPC connection without calls for this long (default 15m)")
	durationFlag(fs, &o.GRPCKeepaliveMinTime, "grpc-keepalive-min-time", "shortest keepalive ping interval a client may use (default 10s)")
	fs.Func("min-free-disk", "free space kept in reserve on the data directory's file system; below it nothing is written (default 136MiB; 0: off)",
		func(s string) error { return o.MinFreeDisk.UnmarshalText([]byte(s)) })
}

var quotaDoc = map[string]string{
	"rate_limit_crypto":   "cryptographic operations, per principal",
	"rate_limit_read":     "calls that only read, per principal",
	"rate_limit_mutation": "other calls (mutations), per principal",
	"rate_limit_global":   "node-wide quota of all calls",
}

func dashed(s string) string {
	b := []byte(s)
	for i := range b {
		if b[i] == '_' {
			b[i] = '-'
		}
	}
	return string(b)
}

// copyOpsFlag copies the field behind one of the flags of bindOpsFlags.
func copyOpsFlag(name string, src, dst *OpsConfig) {
	switch name {
	case "rate-limits":
		dst.RateLimits = src.RateLimits
	case "grpc-max-concurrent-streams":
		dst.GRPCMaxConcurrentStreams = src.GRPCMaxConcurrentStreams
	case "grpc-max-connections":
		dst.GRPCMaxConnections = src.GRPCMaxConnections
	case "grpc-handshake-timeout":
		dst.GRPCHandshakeTimeout = src.GRPCHandshakeTimeout
	case "grpc-idle-timeout":
		dst.GRPCIdleTimeout = src.GRPCIdleTimeout
	case "min-free-disk":
		dst.MinFreeDisk = src.MinFreeDisk
	case "grpc-keepalive-min-time":
		dst.GRPCKeepaliveMinTime = src.GRPCKeepaliveMinTime
	}
	s, d := src.opsRates(), dst.opsRates()
	for i := range s {
		switch name {
		case dashed(s[i].name):
			*d[i].rate = *s[i].rate
		case dashed(s[i].name) + "-burst":
			*d[i].burst = *s[i].burst
		}
	}
}

// validate checks the settings and names the first bad one.
func (o OpsConfig) validate() error {
	for _, r := range o.opsRates() {
		switch {
		case *r.rate < 0 || *r.rate != *r.rate:
			return fmt.Errorf("config: %s %v must be 0 (no limit) or more requests per second", r.name, *r.rate)
		case *r.rate > 0 && *r.burst < 1:
			return fmt.Errorf("config: %s_burst %d must be at least 1 when %s is set", r.name, *r.burst, r.name)
		}
	}
	switch {
	case o.GRPCMaxConcurrentStreams < 1 || o.GRPCMaxConcurrentStreams > 10000:
		return fmt.Errorf("config: grpc_max_concurrent_streams %d must be between 1 and 10000", o.GRPCMaxConcurrentStreams)
	case o.GRPCMaxConnections == 0 || o.GRPCMaxConnections < -1:
		return fmt.Errorf("config: grpc_max_connections %d must be at least 1, or -1 for no limit", o.GRPCMaxConnections)
	case o.GRPCHandshakeTimeout < Duration(100*time.Millisecond) || o.GRPCHandshakeTimeout > Duration(5*time.Minute):
		return fmt.Errorf("config: grpc_handshake_timeout %v must be between 100ms and 5m", time.Duration(o.GRPCHandshakeTimeout))
	case o.GRPCIdleTimeout < Duration(time.Second):
		return fmt.Errorf("config: grpc_idle_timeout %v is below 1s", time.Duration(o.GRPCIdleTimeout))
	case o.GRPCKeepaliveMinTime < Duration(time.Second):
		return fmt.Errorf("config: grpc_keepalive_min_time %v is below 1s", time.Duration(o.GRPCKeepaliveMinTime))
	}
	return nil
}

// newRegistry returns the registry /metrics serves: the server's metrics
// (registered by server.New) and the Go runtime's and process's, all named
// kmsd_*.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	prometheus.WrapRegistererWithPrefix("kmsd_", reg).MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
