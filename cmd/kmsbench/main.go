package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/auth"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmsbench:", err)
		os.Exit(1)
	}
}

// run parses the command line, connects, runs every operation at every
// concurrency against kmsd and the echo server, and reports. It fails if a
// run could not be carried out or any run had a failed call or wrong result.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	} else if err != nil {
		return err
	}
	if cfg.ServeEcho != "" {
		return serveEcho(ctx, cfg.ServeEcho, cfg.CiphertextOverhead, stderr)
	}
	var target, echo []kmsv1.KeyManagementServiceClient
	connect := func(addrs string) ([]kmsv1.KeyManagementServiceClient, func(), error) {
		// Each endpoint's connections, interleaved: worker i calls
		// through clients[i%len], so the callers spread evenly.
		var per [][]kmsv1.KeyManagementServiceClient
		var closers []func()
		closeAll := func() {
			for _, c := range closers {
				c()
			}
		}
		for addr := range strings.SplitSeq(addrs, ",") {
			dialOne := dial
			if cfg.Protocol == "aws" {
				dialOne = func(a string, n int) ([]kmsv1.KeyManagementServiceClient, func(), error) {
					return dialAWS(a, cfg.Region, n)
				}
			}
			cs, c, err := dialOne(strings.TrimSpace(addr), cfg.Conns)
			if err != nil {
				closeAll()
				return nil, nil, err
			}
			per, closers = append(per, cs), append(closers, c)
		}
		var clients []kmsv1.KeyManagementServiceClient
		for j := range cfg.Conns {
			for _, cs := range per {
				clients = append(clients, cs[j])
			}
		}
		return clients, closeAll, nil
	}
	echoKey := echoKeyARN
	if cfg.BaselineEndpoint != "" {
		var closeBase func()
		if echo, closeBase, err = connect(cfg.BaselineEndpoint); err != nil {
			return err
		}
		defer closeBase()
		if echoKey, err = createKey(ctx, echo[0], stderr); err != nil {
			return fmt.Errorf("baseline: %w", err)
		}
	}
	if cfg.Echo {
		addr, stop, err := startEcho(cfg.CiphertextOverhead)
		if err != nil {
			return fmt.Errorf("start echo server: %v", err)
		}
		defer stop()
		var closeEcho func()
		if echo, closeEcho, err = dial(addr, cfg.Conns); err != nil {
			return err
		}
		defer closeEcho()
	}
	keyID := cfg.KeyID
	if !cfg.EchoOnly {
		var closeTarget func()
		if target, closeTarget, err = connect(cfg.Endpoint); err != nil {
			return err
		}
		defer closeTarget()
		if keyID == "" {
			if keyID, err = createKey(ctx, target[0], stderr); err != nil {
				return err
			}
		}
		if err := checkKey(ctx, target[0], keyID); err != nil {
			return err
		}
	}
	rep := &reporter{out: stdout, cfg: &cfg, keyID: keyID}
	if err := runAll(ctx, &cfg, keyID, echoKey, target, echo, rep); err != nil {
		return err
	}
	failed := 0
	for _, r := range rep.rows {
		if (r.Target != nil && r.Target.failed()) || (r.Echo != nil && r.Echo.failed()) {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d runs had failed calls or wrong results", failed, len(rep.rows))
	}
	return nil
}

func runAll(ctx context.Context, cfg *Config, keyID, echoKey string, target, echo []kmsv1.KeyManagementServiceClient, rep *reporter) error {
	rep.begin()
	for _, op := range cfg.Ops {
		for _, conc := range cfg.Concurrency {
			r := row{Op: op, Concurrency: conc}
			if target != nil {
				res, err := runBench(ctx, cfg.bench(op, conc, keyID, cfg.ServerPIDs), target)
				if err != nil {
					return fmt.Errorf("%s at concurrency %d: %w", op, conc, err)
				}
				r.Target = &res
			}
			if echo != nil {
				var basePIDs []int
				if cfg.BaselinePID != 0 {
					basePIDs = []int{cfg.BaselinePID}
				}
				bc := cfg.bench(op, conc, echoKey, basePIDs)
				if cfg.BaselineEndpoint != "" {
					bc.CiphertextOverhead = 0 // another implementation's format
				}
				res, err := runBench(ctx, bc, echo)
				if err != nil {
					return fmt.Errorf("echo %s at concurrency %d: %w", op, conc, err)
				}
				r.Echo = &res
			}
			rep.add(r)
		}
	}
	return rep.end()
}

// dial opens n connections to addr; closeAll closes them.
func dial(addr string, n int) (clients []kmsv1.KeyManagementServiceClient, closeAll func(), err error) {
	var conns []*grpc.ClientConn
	closeAll = func() {
		for _, cc := range conns {
			cc.Close()
		}
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	// Calls are signed with the environment's access key (KMS_ACCESS_KEY_ID,
	// KMS_SECRET_ACCESS_KEY), the echo ceiling's too, so that both pay
	// the client's share of authentication.
	if c, err := auth.FromEnvironment(); err == nil {
		opts = append(opts, auth.DialOptions(c)...)
	}
	for range n {
		cc, err := grpc.NewClient(addr, opts...)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("connect to %s: %v", addr, err)
		}
		conns = append(conns, cc)
		clients = append(clients, kmsv1.NewKeyManagementServiceClient(cc))
	}
	return clients, closeAll, nil
}

// createKey makes a fresh symmetric key for the run and returns its id.
func createKey(ctx context.Context, client kmsv1.KeyManagementServiceClient, log io.Writer) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "kmsbench " + time.Now().UTC().Format(time.RFC3339)})
	if err != nil {
		return "", fmt.Errorf("CreateKey: %v", err)
	}
	id := resp.GetKeyMetadata().GetKeyId()
	if id == "" {
		return "", errors.New("CreateKey returned no KeyId")
	}
	fmt.Fprintln(log, "kmsbench: created key", id)
	return id, nil
}

// checkKey makes sure, before any run, that kmsd answers and that the key is
// enabled, so that a wrong endpoint or key fails at once rather than as
// millions of counted errors.
func checkKey(ctx context.Context, client kmsv1.KeyManagementServiceClient, keyID string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
	if err != nil {
		return fmt.Errorf("DescribeKey %s: %v", keyID, err)
	}
	if st := resp.GetKeyMetadata().GetKeyState(); st != "Enabled" {
		return fmt.Errorf("key %s is %s, not Enabled", keyID, st)
	}
	return nil
}
