package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"gopkg.in/yaml.v3"
)

// Config is kmsd's configuration. Every field has a flag of the same name
// (with dashes) and a key in the configuration file (with underscores).
type Config struct {
	// Dev runs a single node with a generated root key under the data dir.
	// For development only.
	Dev bool `yaml:"dev" toml:"dev"`
	// DataDir holds the Raft log, snapshots and key state. Default ./kmsd-data.
	DataDir string `yaml:"data_dir" toml:"data_dir"`
	// GRPCAddr is the API's listen address. Default 127.0.0.1:7400.
	GRPCAddr string `yaml:"grpc_addr" toml:"grpc_addr"`
	// RaftAddr is the Raft transport's listen address. Default 127.0.0.1:7401.
	RaftAddr string `yaml:"raft_addr" toml:"raft_addr"`
	// HTTPAddr serves /healthz, /readyz and /metrics. Default 127.0.0.1:7480.
	HTTPAddr string `yaml:"http_addr" toml:"http_addr"`
	// NodeID names this node in the cluster. Default "kmsd-1".
	NodeID string `yaml:"node_id" toml:"node_id"`
	// RootKeyFile holds the root key (see kmsd init). Required unless Dev.
	RootKeyFile string `yaml:"root_key_file" toml:"root_key_file"`
	// Region and AccountID appear in ARNs. Defaults us-east-1, 111122223333.
	Region    string `yaml:"region" toml:"region"`
	AccountID string `yaml:"account_id" toml:"account_id"`
	// LogLevel is debug, info, warn or error. Default info.
	LogLevel string `yaml:"log_level" toml:"log_level"`
	// LogFormat is text or json. Default text.
	LogFormat string `yaml:"log_format" toml:"log_format"`
	// SnapshotThreshold is the number of log entries between Raft snapshots.
	// Default 8192. Once a snapshot is larger than 64 MiB, a node also
	// waits for the log to hold half the snapshot's size.
	SnapshotThreshold uint64 `yaml:"snapshot_threshold" toml:"snapshot_threshold"`
	// SnapshotInterval is how often the threshold is checked. Default 2m.
	SnapshotInterval Duration `yaml:"snapshot_interval" toml:"snapshot_interval"`
	// TrailingLogs is how many log entries are kept after a snapshot, so
	// that a member that fell behind by fewer catches up from the log
	// rather than from a whole snapshot. Default 10240.
	TrailingLogs uint64 `yaml:"trailing_logs" toml:"trailing_logs"`
	// RaftTimeout is the Raft heartbeat and election timeout. Default 500ms.
	RaftTimeout Duration `yaml:"raft_timeout" toml:"raft_timeout"`
	// SchedulerInterval is how often the leader carries out due key
	// deletions. Default 1m.
	SchedulerInterval Duration `yaml:"scheduler_interval" toml:"scheduler_interval"`
	// RotateAfterEncryptions rotates a key automatically once its current
	// material has made this many encryptions. Default 0: off.
	RotateAfterEncryptions uint64 `yaml:"rotate_after_encryptions" toml:"rotate_after_encryptions"`
	// AuditSignInterval is how often the leader signs a tree head of the
	// audit log when records were added. Default 1m.
	AuditSignInterval Duration `yaml:"audit_sign_interval" toml:"audit_sign_interval"`
	// AuditRetention is how long audit records are kept in the log; older
	// ones are archived to export files in AuditArchiveDir and removed
	// (the signed tree heads stay, so what remains still verifies).
	// Default 0: keep every record.
	AuditRetention Duration `yaml:"audit_retention" toml:"audit_retention"`
	// AuditArchiveDir receives the archives. Default <data_dir>/audit-archive.
	AuditArchiveDir string `yaml:"audit_archive_dir" toml:"audit_archive_dir"`
	// Peers lists the members of a cluster started together, this node
	// included, each as "ID=RAFT_ADDR/GRPC_ADDR" (comma-separated on the
	// command line). Every member is started with the same list and the
	// same root key. Empty: a cluster of one.
	Peers PeerList `yaml:"peers" toml:"peers"`
	// Bootstrap lets a node with no Raft state, no peers and no join start
	// a cluster of one. With it off, such a node waits until a member adds
	// it ("kmsctl cluster join"). Default true.
	Bootstrap bool `yaml:"bootstrap" toml:"bootstrap"`
	// Join is the gRPC address of any member of a running cluster that
	// this node, started with no Raft state, asks to be added to. Ignored
	// once the node is a member (it rejoins by itself after a restart).
	Join string `yaml:"join" toml:"join"`
	// TLSCertFile and TLSKeyFile hold this member's certificate and key
	// (PEM; the key file owner-only), TLSCAFile the cluster CA (see kmsd
	// tls). With them, the Raft port accepts only other members (mutual
	// TLS), followers forward commands over TLS, and the gRPC API serves
	// TLS (a client certificate, if one is presented, must come from the
	// CA). All three or none. Default: none (plain TCP; loopback only).
	TLSCertFile string `yaml:"tls_cert_file" toml:"tls_cert_file"`
	TLSKeyFile  string `yaml:"tls_key_file" toml:"tls_key_file"`
	TLSCAFile   string `yaml:"tls_ca_file" toml:"tls_ca_file"`
	// NonVoter, with Join, makes this node a non-voter: it replicates the
	// log and serves every call, but takes no part in elections or commit
	// quorums. Restarting it with join and without non_voter promotes it
	// to a voter (and the other way round demotes a voter).
	NonVoter bool `yaml:"non_voter" toml:"non_voter"`
	// InsecureNoAudit turns the audit log off. Accepted only with Dev; it
	// exists to measure what the audit log costs.
	InsecureNoAudit bool `yaml:"insecure_no_audit" toml:"insecure_no_audit"`
	// AWSAllowPlainHTTP lets the AWS-compatible API (POST / on HTTPAddr)
	// answer plain HTTP on an address that is not loopback. Off, it
	// answers plain HTTP only on loopback, and TLS (with tls_cert_file)
	// on any address.
	AWSAllowPlainHTTP bool `yaml:"aws_allow_plain_http" toml:"aws_allow_plain_http"`
	// OpsConfig: request quotas and connection limits (configops.go).
	OpsConfig `yaml:",inline"`
}

// PeerList is the peers setting: "ID=RAFT_ADDR/GRPC_ADDR" entries.
type PeerList []string

// Set implements flag.Value: a comma-separated list.
func (p *PeerList) Set(s string) error {
	*p = nil
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			*p = append(*p, e)
		}
	}
	return nil
}

func (p *PeerList) String() string { return strings.Join(*p, ",") }

// parsePeer parses one "ID=RAFT_ADDR/GRPC_ADDR" entry.
func parsePeer(s string) (id, raftAddr, grpcAddr string, err error) {
	id, addrs, ok1 := strings.Cut(s, "=")
	raftAddr, grpcAddr, ok2 := strings.Cut(addrs, "/")
	if !ok1 || !ok2 || id == "" {
		return "", "", "", fmt.Errorf("config: peer %q is not ID=RAFT_ADDR/GRPC_ADDR", s)
	}
	for _, a := range []string{raftAddr, grpcAddr} {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", "", "", fmt.Errorf("config: peer %q: %q is not HOST:PORT", s, a)
		}
	}
	return id, raftAddr, grpcAddr, nil
}

// Duration is a time.Duration written as "90s", "5m" in files.
type Duration time.Duration

// UnmarshalText parses a duration such as "30s".
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	*d = Duration(v)
	return err
}

// defaultConfig returns the configuration used when nothing is set.
func defaultConfig() Config {
	return Config{
		DataDir: "./kmsd-data", GRPCAddr: "127.0.0.1:7400", RaftAddr: "127.0.0.1:7401",
		HTTPAddr: "127.0.0.1:7480", NodeID: "kmsd-1", Region: "us-east-1", AccountID: "111122223333",
		LogLevel: "info", LogFormat: "text", SnapshotThreshold: 8192, TrailingLogs: 10240, Bootstrap: true,
		SnapshotInterval: Duration(2 * time.Minute), RaftTimeout: Duration(500 * time.Millisecond),
		SchedulerInterval: Duration(time.Minute),
		AuditSignInterval: Duration(time.Minute),
		OpsConfig:         defaultOpsConfig(),
	}
}

const usage = `Usage: kmsd [flags]
       kmsd init --root-key-file PATH
       kmsd tls ca|node|client --dir DIR ...
       kmsd restore --backup FILE --root-key-file PATH --data-dir DIR
       kmsd root-credentials --root-key-file PATH

Runs the kmsd key management service.

Examples:
  kmsd --dev
  kmsd init --root-key-file /etc/kmsd/root.key
  kmsd tls ca --dir /etc/kmsd/tls
  kmsd --root-key-file /etc/kmsd/root.key --data-dir /var/lib/kmsd
  KMSD_DATA_DIR=/var/lib/kmsd KMSD_ROOT_KEY_FILE=/etc/kmsd/root.key kmsd

Every flag can also be set in the --config file (its name with '_' for '-')
and as an environment variable, KMSD_ and its name in upper case with '_'
for '-'. The file is read first, then the environment, then the flags.

Flags:
`

// loadConfig builds the configuration: defaults, then the --config file
// (or KMSD_CONFIG), then environment variables, then the flags given on
// the command line.
func loadConfig(args []string, stderr io.Writer) (Config, error) {
	return loadConfigEnv(args, os.Environ(), stderr)
}

// envPrefix starts the environment variable of every setting: KMSD_ and
// the flag's name in upper case with '_' for '-' (KMSD_GRPC_ADDR for
// --grpc-addr).
const envPrefix = "KMSD_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func loadConfigEnv(args, environ []string, stderr io.Writer) (Config, error) {
	cfg := defaultConfig()
	fs := flag.NewFlagSet("kmsd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	var file string
	fs.StringVar(&file, "config", "", "YAML (.yaml, .yml) or TOML (.toml) configuration file")
	flagged := cfg
	bindFlags(fs, &flagged)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q (see kmsd --help)", fs.Arg(0))
	}
	env, err := envSettings(fs, environ)
	if err != nil {
		return Config{}, err
	}
	if file == "" {
		file = env["config"]
	}
	if file != "" {
		if err := readConfigFile(file, &cfg); err != nil {
			return Config{}, err
		}
	}
	// Environment variables go through flags of their own, bound to a
	// copy of the configuration so far, so each is parsed as its flag is.
	fromEnv := cfg
	efs := flag.NewFlagSet("kmsd environment", flag.ContinueOnError)
	efs.SetOutput(io.Discard)
	bindFlags(efs, &fromEnv)
	for _, name := range slices.Sorted(maps.Keys(env)) {
		if name == "config" {
			continue
		}
		if err := efs.Set(name, env[name]); err != nil {
			return Config{}, fmt.Errorf("%s=%q: %w", envName(name), env[name], err)
		}
		copyFlag(name, &fromEnv, &cfg)
	}
	fs.Visit(func(f *flag.Flag) { copyFlag(f.Name, &flagged, &cfg) })
	return cfg, cfg.Validate()
}

// envSettings returns the settings given as KMSD_* environment variables,
// by flag name. A KMSD_ variable that names no setting is an error, so
// that a misspelt one is not silently ignored.
func envSettings(fs *flag.FlagSet, environ []string) (map[string]string, error) {
	byEnv := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { byEnv[envName(f.Name)] = f.Name })
	out := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, envPrefix) {
			continue
		}
		name, ok := byEnv[k]
		if !ok {
			return nil, fmt.Errorf("unknown environment variable %s: kmsd's settings are KMSD_ and a flag's name, such as KMSD_GRPC_ADDR (see kmsd --help)", k)
		}
		out[name] = v
	}
	return out, nil
}

func bindFlags(fs *flag.FlagSet, c *Config) {
	fs.BoolVar(&c.Dev, "dev", c.Dev, "development mode: single node, generated root key under the data dir (NOT for production)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory (mode 0700)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC API listen address")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "Raft transport listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address (/healthz, /readyz, /metrics)")
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "this node's id in the cluster")
	fs.StringVar(&c.RootKeyFile, "root-key-file", c.RootKeyFile, "root key file made by 'kmsd init' (mode 0600)")
	fs.StringVar(&c.Region, "region", c.Region, "region shown in ARNs")
	fs.StringVar(&c.AccountID, "account-id", c.AccountID, "account id shown in ARNs (12 digits)")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", c.SnapshotThreshold, "Raft log entries between snapshots")
	fs.Uint64Var(&c.TrailingLogs, "trailing-logs", c.TrailingLogs, "Raft log entries kept after a snapshot")
	durationFlag(fs, &c.SnapshotInterval, "snapshot-interval", "how often the snapshot threshold is checked (default 2m)")
	durationFlag(fs, &c.RaftTimeout, "raft-timeout", "Raft heartbeat and election timeout (default 500ms)")
	fs.Uint64Var(&c.RotateAfterEncryptions, "rotate-after-encryptions", c.RotateAfterEncryptions, "rotate a key after its material made this many encryptions (0: off)")
	durationFlag(fs, &c.SchedulerInterval, "scheduler-interval", "how often due key deletions are carried out (default 1m)")
	durationFlag(fs, &c.AuditSignInterval, "audit-sign-interval", "how often the audit log's tree head is signed when records were added (default 1m)")
	durationFlag(fs, &c.AuditRetention, "audit-retention", "archive and remove audit records older than this (default 0: keep all)")
	fs.StringVar(&c.AuditArchiveDir, "audit-archive-dir", c.AuditArchiveDir, "where archived audit records go (default <data-dir>/audit-archive)")
	fs.BoolVar(&c.Bootstrap, "bootstrap", c.Bootstrap, "a node with no Raft state, peers or join starts a cluster of one; --bootstrap=false waits to be added with 'kmsctl cluster join'")
	fs.StringVar(&c.Join, "join", c.Join, "gRPC address of a member of the cluster to join (node without Raft state)")
	fs.Var(&c.Peers, "peers", "members of a cluster started together: ID=RAFT_ADDR/GRPC_ADDR,... (this node included)")
	fs.BoolVar(&c.NonVoter, "non-voter", c.NonVoter, "with --join: join as a non-voter (replicates and serves, does not vote)")
	fs.StringVar(&c.TLSCertFile, "tls-cert-file", c.TLSCertFile, "this member's TLS certificate (PEM; see 'kmsd tls')")
	fs.StringVar(&c.TLSKeyFile, "tls-key-file", c.TLSKeyFile, "this member's TLS key (PEM, mode 0600)")
	fs.StringVar(&c.TLSCAFile, "tls-ca-file", c.TLSCAFile, "the cluster CA certificate (PEM)")
	fs.BoolVar(&c.InsecureNoAudit, "insecure-no-audit", c.InsecureNoAudit, "with --dev only: record nothing in the audit log (to measure its cost)")
	fs.BoolVar(&c.AWSAllowPlainHTTP, "aws-allow-plain-http", c.AWSAllowPlainHTTP, "answer the AWS KMS API over plain HTTP on a non-loopback --http-addr (it carries plaintext)")
	bindOpsFlags(fs, &c.OpsConfig)
}

func durationFlag(fs *flag.FlagSet, d *Duration, name, usage string) {
	fs.Func(name, usage, func(s string) error { return d.UnmarshalText([]byte(s)) })
}

// copyFlag copies the field behind one command-line flag from src to dst.
func copyFlag(name string, src, dst *Config) {
	switch name {
	case "dev":
		dst.Dev = src.Dev
	case "data-dir":
		dst.DataDir = src.DataDir
	case "grpc-addr":
		dst.GRPCAddr = src.GRPCAddr
	case "raft-addr":
		dst.RaftAddr = src.RaftAddr
	case "http-addr":
		dst.HTTPAddr = src.HTTPAddr
	case "node-id":
		dst.NodeID = src.NodeID
	case "root-key-file":
		dst.RootKeyFile = src.RootKeyFile
	case "region":
		dst.Region = src.Region
	case "account-id":
		dst.AccountID = src.AccountID
	case "log-level":
		dst.LogLevel = src.LogLevel
	case "log-format":
		dst.LogFormat = src.LogFormat
	case "snapshot-threshold":
		dst.SnapshotThreshold = src.SnapshotThreshold
	case "trailing-logs":
		dst.TrailingLogs = src.TrailingLogs
	case "scheduler-interval":
		dst.SchedulerInterval = src.SchedulerInterval
	case "snapshot-interval":
		dst.SnapshotInterval = src.SnapshotInterval
	case "raft-timeout":
		dst.RaftTimeout = src.RaftTimeout
	case "rotate-after-encryptions":
		dst.RotateAfterEncryptions = src.RotateAfterEncryptions
	case "audit-sign-interval":
		dst.AuditSignInterval = src.AuditSignInterval
	case "audit-retention":
		dst.AuditRetention = src.AuditRetention
	case "audit-archive-dir":
		dst.AuditArchiveDir = src.AuditArchiveDir
	case "peers":
		dst.Peers = src.Peers
	case "bootstrap":
		dst.Bootstrap = src.Bootstrap
	case "join":
		dst.Join = src.Join
	case "non-voter":
		dst.NonVoter = src.NonVoter
	case "tls-cert-file":
		dst.TLSCertFile = src.TLSCertFile
	case "tls-key-file":
		dst.TLSKeyFile = src.TLSKeyFile
	case "tls-ca-file":
		dst.TLSCAFile = src.TLSCAFile
	case "insecure-no-audit":
		dst.InsecureNoAudit = src.InsecureNoAudit
	case "aws-allow-plain-http":
		dst.AWSAllowPlainHTTP = src.AWSAllowPlainHTTP
	default:
		copyOpsFlag(name, &src.OpsConfig, &dst.OpsConfig)
	}
}

// readConfigFile reads a YAML or TOML file into c. Unknown settings are
// errors, so that a misspelt setting is not silently ignored.
func readConfigFile(path string, c *Config) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("config %s: %w", path, err)
		}
	case ".toml":
		md, err := toml.Decode(string(b), c)
		if err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("config %s: unknown setting %q", path, und[0].String())
		}
	default:
		return fmt.Errorf("config %s: unknown file type (want .yaml, .yml or .toml)", path)
	}
	return nil
}

// Validate checks every setting and names the first bad one.
func (c Config) Validate() error {
	for _, a := range []struct{ name, addr string }{{"grpc_addr", c.GRPCAddr}, {"raft_addr", c.RaftAddr}, {"http_addr", c.HTTPAddr}} {
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("config: %s %q is not HOST:PORT", a.name, a.addr)
		}
	}
	switch {
	case c.DataDir == "":
		return errors.New("config: data_dir must be set")
	case c.NodeID == "":
		return errors.New("config: node_id must be set")
	case !c.Dev && c.RootKeyFile == "":
		return errors.New("config: root_key_file is required (create one with 'kmsd init --root-key-file PATH'), or run with --dev for development")
	case len(c.AccountID) != 12 || strings.Trim(c.AccountID, "0123456789") != "":
		return fmt.Errorf("config: account_id %q must be 12 digits", c.AccountID)
	case c.Region == "" || strings.ContainsAny(c.Region, ": /"):
		return fmt.Errorf("config: region %q is not valid", c.Region)
	case c.SchedulerInterval < Duration(time.Second):
		return fmt.Errorf("config: scheduler_interval %v is below 1s", time.Duration(c.SchedulerInterval))
	case c.SnapshotInterval < Duration(time.Second):
		return fmt.Errorf("config: snapshot_interval %v is below 1s", time.Duration(c.SnapshotInterval))
	case c.RaftTimeout < Duration(50*time.Millisecond) || c.RaftTimeout > Duration(time.Minute):
		return fmt.Errorf("config: raft_timeout %v must be between 50ms and 1m", time.Duration(c.RaftTimeout))
	case c.AuditSignInterval < Duration(time.Second):
		return fmt.Errorf("config: audit_sign_interval %v is below 1s", time.Duration(c.AuditSignInterval))
	case c.AuditRetention < 0 || (c.AuditRetention > 0 && c.AuditRetention < Duration(time.Hour)):
		return fmt.Errorf("config: audit_retention %v must be 0 (keep all) or at least 1h", time.Duration(c.AuditRetention))
	case c.Dev && (len(c.Peers) > 0 || c.Join != ""):
		return errors.New("config: dev runs a single node; peers and join cannot be set with it")
	case c.Join != "" && len(c.Peers) > 0:
		return errors.New("config: join and peers exclude each other: peers starts a cluster, join enters one")
	case !c.Bootstrap && (c.Dev || len(c.Peers) > 0):
		return errors.New("config: bootstrap=false makes a node wait to be added; dev and peers start a cluster: choose one")
	case c.NonVoter && c.Join == "":
		return errors.New("config: non_voter applies to a node that joins a cluster: set join too")
	case c.InsecureNoAudit && !c.Dev:
		return errors.New("config: insecure_no_audit is accepted only with dev")
	case c.SnapshotThreshold == 0:
		return errors.New("config: snapshot_threshold must be at least 1")
	case c.TrailingLogs == 0:
		return errors.New("config: trailing_logs must be at least 1")
	case (c.TLSCertFile == "") != (c.TLSKeyFile == "") || (c.TLSCertFile == "") != (c.TLSCAFile == ""):
		return errors.New("config: tls_cert_file, tls_key_file and tls_ca_file go together: set all three or none")
	}
	if c.Join != "" {
		if _, _, err := net.SplitHostPort(c.Join); err != nil {
			return fmt.Errorf("config: join %q is not HOST:PORT", c.Join)
		}
	}
	if len(c.Peers) > 0 {
		self := false
		seen := map[string]bool{}
		for _, p := range c.Peers {
			id, _, _, err := parsePeer(p)
			if err != nil {
				return err
			}
			if seen[id] {
				return fmt.Errorf("config: peer %q is listed twice", id)
			}
			seen[id] = true
			self = self || id == c.NodeID
		}
		if !self {
			return fmt.Errorf("config: peers does not list this node (node_id %q)", c.NodeID)
		}
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return fmt.Errorf("config: log_format %q must be text or json", c.LogFormat)
	}
	return c.OpsConfig.validate()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("config: log_level %q must be debug, info, warn or error", s)
	}
	return l, nil
}

// newLogger returns the daemon's logger, writing to w.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
