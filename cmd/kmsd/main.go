// Command kmsd runs the kmsd key management service: a Raft-replicated gRPC
// daemon that holds customer master keys and performs envelope encryption,
// with an API shaped like AWS KMS.
//
// Usage:
//
//	kmsd --dev                                  # development: one node, ./kmsd-data, generated root key
//	kmsd init --root-key-file /etc/kmsd/root.key
//	kmsd tls ca --dir /etc/kmsd/tls               # a CA and member certificates for a cluster
//	kmsd root-credentials --root-key-file K       # the account root's access key, as shell lines
//	kmsd restore --backup FILE --root-key-file K --data-dir DIR   # a new cluster from "kmsctl cluster backup"
//	kmsd --root-key-file /etc/kmsd/root.key --data-dir /var/lib/kmsd [--config kmsd.yaml]
//
// Run kmsd --help for every flag. Each flag can also be set in a YAML or
// TOML configuration file (--config); flags given on the command line win.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Everything kmsd creates (state, Raft log, snapshots, the audit log,
	// key files) is for its owner only.
	syscall.Umask(0o077)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kmsd:", err)
		os.Exit(1)
	}
}

// run dispatches to the init subcommand or runs the daemon until ctx is done.
func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "init" {
		return runInit(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "tls" {
		return runTLS(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "restore" {
		return runRestore(args[1:], os.Stdout)
	}
	if len(args) > 0 && args[0] == "root-credentials" {
		return runRootCredentials(args[1:], os.Stdout)
	}
	cfg, err := loadConfig(args, os.Stderr)
	if err != nil {
		return err
	}
	return serve(ctx, cfg)
}
