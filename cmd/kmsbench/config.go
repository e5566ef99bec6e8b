package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Op is a benchmarked operation, spelled as the RPC.
type Op string

// The operations kmsbench drives.
const (
	OpGenerateDataKey Op = "GenerateDataKey"
	OpEncrypt         Op = "Encrypt"
	OpDecrypt         Op = "Decrypt"
	// OpCreateKey is a mutation: every call commits a new key through
	// the cluster's Raft log (the key is left in place).
	OpCreateKey Op = "CreateKey"
)

var allOps = []Op{OpGenerateDataKey, OpEncrypt, OpDecrypt, OpCreateKey}

// Defaults.
const (
	defaultEndpoint = "127.0.0.1:7400"
	// defaultCiphertextOverhead is the length of a kmsd ciphertext minus its
	// plaintext: magic/version(1) alg(1) keyID(16) keyMaterialID(32)
	// salt(32) iv(12), then the GCM tag(16). A 32-byte data key makes a
	// 142-byte blob.
	defaultCiphertextOverhead = 110
	dataKeyBytes              = 32 // AES_256
	maxPlaintext              = 4096
)

// Config is the whole command line. The zero value is not usable: start from
// DefaultConfig. It is not changed after Validate.
type Config struct {
	// Endpoint is kmsd's gRPC address, or several, comma-separated (the
	// members of a cluster): the callers are spread over them evenly.
	// Unused with EchoOnly.
	Endpoint string
	// KeyID names the key to use; empty means create one with CreateKey.
	KeyID string
	// Ops run one after another, each at every Concurrency.
	Ops         []Op
	Concurrency []int
	// Duration is each run's timed window; Warmup precedes it, untimed.
	Duration time.Duration
	Warmup   time.Duration
	// Conns is how many gRPC connections the callers share (round robin by
	// caller). The echo client uses the same number.
	Conns int
	// PlaintextSize is the Encrypt (and Decrypt pool) plaintext length.
	PlaintextSize int
	// CiphertextOverhead is the expected ciphertext length minus the
	// plaintext length; 0 skips the length check.
	CiphertextOverhead int
	// Echo also measures the in-process echo ceiling; EchoOnly measures
	// nothing else.
	Echo     bool
	EchoOnly bool
	// ServerPIDs are the kmsd processes whose CPU time is read (summed):
	// one per endpoint, or none.
	ServerPIDs []int
	// MaxOps, when not 0, bounds the timed calls of each run.
	MaxOps int64
	// JSON selects machine-readable output.
	JSON bool
	// ServeEcho, when not empty, turns kmsbench into an echo server on that
	// address, so that the echo ceiling can be measured out of process like
	// kmsd (with --server-pid).
	ServeEcho string
	// Protocol is "grpc" (kmsd's API) or "aws": the AWS KMS JSON protocol
	// through the AWS SDK, Endpoint then being a URL (kmsd's --http-addr)
	// and Region the region requests are signed for.
	Protocol string
	Region   string
	// BaselineEndpoint, with Protocol "aws", is another AWS-compatible
	// endpoint (an emulator such as local-kms) measured in the same run in
	// place of the echo ceiling; BaselinePID its process, for its CPU time.
	BaselineEndpoint string
	BaselinePID      int
}

// DefaultConfig returns the defaults documented on the flags.
func DefaultConfig() Config {
	return Config{
		Endpoint:           defaultEndpoint,
		Ops:                allOps,
		Concurrency:        []int{64},
		Duration:           10 * time.Second,
		Warmup:             time.Second,
		Conns:              1,
		PlaintextSize:      32,
		CiphertextOverhead: defaultCiphertextOverhead,
		Echo:               true,
		Protocol:           "grpc",
		Region:             "us-east-1",
	}
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.Endpoint == "" && !c.EchoOnly:
		return errors.New("--endpoint is empty")
	case len(c.Ops) == 0:
		return errors.New("--ops is empty")
	case len(c.Concurrency) == 0:
		return errors.New("--concurrency is empty")
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.Warmup < 0:
		return errors.New("--warmup must not be negative")
	case c.Conns < 1:
		return errors.New("--conns must be at least 1")
	case c.PlaintextSize < 1 || c.PlaintextSize > maxPlaintext:
		return fmt.Errorf("--plaintext-size must be 1-%d", maxPlaintext)
	case c.CiphertextOverhead != 0 && c.CiphertextOverhead < tagLen:
		return fmt.Errorf("--ciphertext-overhead must be 0 or at least %d", tagLen)
	case slices.ContainsFunc(c.ServerPIDs, func(p int) bool { return p <= 0 }):
		return errors.New("--server-pid must be positive")
	case len(c.ServerPIDs) > 1 && len(slices.Compact(slices.Sorted(slices.Values(c.ServerPIDs)))) != len(c.ServerPIDs):
		return errors.New("--server-pid names a process twice")
	case len(c.ServerPIDs) > 1 && len(c.ServerPIDs) != strings.Count(c.Endpoint, ",")+1:
		return fmt.Errorf("--server-pid has %d pids for %d endpoints: give one per member", len(c.ServerPIDs), strings.Count(c.Endpoint, ",")+1)
	case c.MaxOps < 0:
		return errors.New("--max-ops must not be negative")
	case c.EchoOnly && len(c.ServerPIDs) != 0:
		return errors.New("--server-pid makes no sense with --echo-only")
	case c.Protocol != "grpc" && c.Protocol != "aws":
		return fmt.Errorf("--protocol %q: must be grpc or aws", c.Protocol)
	case c.Protocol == "aws" && (c.Echo || c.EchoOnly):
		return errors.New("the echo ceiling is a gRPC server: use --echo=false with --protocol aws (--baseline-endpoint measures another AWS endpoint)")
	case c.BaselineEndpoint != "" && c.Protocol != "aws":
		return errors.New("--baseline-endpoint needs --protocol aws")
	case c.BaselinePID != 0 && c.BaselineEndpoint == "":
		return errors.New("--baseline-pid needs --baseline-endpoint")
	}
	for _, n := range c.Concurrency {
		if n < 1 {
			return fmt.Errorf("--concurrency %d: must be at least 1", n)
		}
	}
	return nil
}

// parseFlags parses the command line over DefaultConfig. KMS_ENDPOINT, read
// through getenv, replaces the default endpoint. Usage goes to out.
func parseFlags(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	c := DefaultConfig()
	if e := getenv("KMS_ENDPOINT"); e != "" {
		c.Endpoint = e
	}
	ops, conc, pids := "GenerateDataKey,Encrypt,Decrypt", "64", ""
	fs := flag.NewFlagSet("kmsbench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Endpoint, "endpoint", c.Endpoint, "kmsd gRPC `address`, or several comma-separated (a cluster's members) (env KMS_ENDPOINT)")
	fs.StringVar(&c.KeyID, "key-id", "", "key `id`, ARN or alias; empty creates a fresh key")
	fs.StringVar(&ops, "ops", ops, "comma-separated `list` of GenerateDataKey, Encrypt, Decrypt, CreateKey")
	fs.StringVar(&conc, "concurrency", conc, "comma-separated `list` of concurrent callers")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "timed window per run")
	fs.DurationVar(&c.Warmup, "warmup", c.Warmup, "untimed warm-up before each window")
	fs.IntVar(&c.Conns, "conns", c.Conns, "gRPC connections shared by the callers")
	fs.IntVar(&c.PlaintextSize, "plaintext-size", c.PlaintextSize, "Encrypt plaintext `bytes`")
	fs.IntVar(&c.CiphertextOverhead, "ciphertext-overhead", c.CiphertextOverhead, "expected ciphertext minus plaintext `bytes` (0: no check)")
	fs.BoolVar(&c.Echo, "echo", c.Echo, "also measure the in-process echo ceiling")
	fs.BoolVar(&c.EchoOnly, "echo-only", false, "measure only the echo ceiling")
	fs.StringVar(&pids, "server-pid", "", "kmsd `pid` to read CPU time from /proc, or several comma-separated (summed)")
	fs.Int64Var(&c.MaxOps, "max-ops", 0, "bound on timed calls per run (0: none)")
	fs.BoolVar(&c.JSON, "json", false, "print JSON instead of a table")
	fs.StringVar(&c.ServeEcho, "serve-echo", "", "only serve the echo service on `address` until interrupted")
	fs.StringVar(&c.Protocol, "protocol", c.Protocol, "grpc, or aws: the AWS KMS protocol through the AWS SDK (--endpoint is then a URL)")
	fs.StringVar(&c.Region, "region", c.Region, "with --protocol aws: the region requests are signed for")
	fs.StringVar(&c.BaselineEndpoint, "baseline-endpoint", "", "with --protocol aws: another AWS KMS endpoint `URL` measured in the same run")
	fs.IntVar(&c.BaselinePID, "baseline-pid", 0, "the baseline endpoint's `pid`, to read its CPU time from /proc")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if c.Ops, err = parseOps(ops); err != nil {
		return Config{}, err
	}
	if c.Concurrency, err = parseInts(conc); err != nil {
		return Config{}, fmt.Errorf("--concurrency: %v", err)
	}
	if pids != "" && pids != "0" { // 0: none
		if c.ServerPIDs, err = parseInts(pids); err != nil {
			return Config{}, fmt.Errorf("--server-pid: %v", err)
		}
	}
	if c.EchoOnly {
		c.Echo = true
	}
	echoSet := false
	fs.Visit(func(f *flag.Flag) { echoSet = echoSet || f.Name == "echo" })
	if c.Protocol == "aws" && !echoSet && !c.EchoOnly {
		c.Echo = false // the echo ceiling speaks gRPC
	}
	return c, c.Validate()
}

func parseOps(s string) ([]Op, error) {
	var ops []Op
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		i := -1
		for j, op := range allOps {
			if strings.EqualFold(f, string(op)) {
				i = j
			}
		}
		if i < 0 {
			return nil, fmt.Errorf("--ops: unknown operation %q", f)
		}
		ops = append(ops, allOps[i])
	}
	return ops, nil
}

func parseInts(s string) ([]int, error) {
	var ns []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	return ns, nil
}

// bench returns the configuration of one run.
func (c *Config) bench(op Op, concurrency int, keyID string, serverPIDs []int) benchConfig {
	return benchConfig{
		Op: op, KeyID: keyID, Concurrency: concurrency,
		Duration: c.Duration, Warmup: c.Warmup, MaxOps: c.MaxOps,
		PlaintextSize: c.PlaintextSize, CiphertextOverhead: c.CiphertextOverhead,
		ServerPIDs: serverPIDs,
	}
}
