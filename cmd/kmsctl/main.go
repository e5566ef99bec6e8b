// Command kmsctl is the command line of kmsd. It mirrors the aws kms
// command line: the same subcommands, flag names, JSON output shape,
// exception names and exit statuses, so that people and scripts used to
// AWS KMS feel at home.
//
//	kmsctl create-key --description "payments"
//	kmsctl encrypt --key-id alias/payments --plaintext fileb://secret.txt --encryption-context purpose=demo
//	kmsctl help encrypt
//
// kmsctl talks to kmsd only through its gRPC API (--endpoint, or the
// KMS_ENDPOINT environment variable; default 127.0.0.1:7400).
//
// Responses are printed as JSON in AWS's shape (--output json, the
// default) or tab-separated text (--output text); --query picks one value
// for scripts:
//
//	KEY=$(kmsctl create-key --query KeyMetadata.KeyId --output text)
//
// List commands follow NextMarker and print every entry unless --limit or
// --max-items is given. "kmsctl help" lists the commands and global flags.
//
// "kmsctl audit" reads the tamper-evident audit log: lookup and tail print
// CloudTrail-style records, export writes the log with its signed tree
// heads to a file, verify checks the live log or an export (naming the
// first bad record), prove proves one record's inclusion offline, and
// public-key prints the key to check them with:
//
//	kmsctl audit public-key --query PublicKey --output text > kmsd-audit.pub
//	kmsctl audit export --outfile audit.json
//	kmsctl audit verify --file audit.json --public-key-file kmsd-audit.pub
//
// Every call is recorded in that log, and kmsd returns the record's
// eventID with the answer, also when the call fails. The global flag
// --show-event-id prints it to standard error as "EventId: ID" after each
// call of a KMS command (not of the audit commands), so that the record can
// be proved at once:
//
//	kmsctl --show-event-id encrypt --key-id alias/payments --plaintext fileb://secret.txt
//	kmsctl audit prove --event-id ID --public-key-file kmsd-audit.pub
//
// Exit status: 0 on success, 252 for a usage error (nothing was sent),
// 254 when the service returned an error, 255 when kmsd could not be
// reached or another local error occurred, 130 when interrupted (Ctrl-C)
// before kmsd answered, 1 when audit verify, export or prove found that the
// log, the export or the proof does not check out.
package main

import (
	"context"
	"os"
	"os/signal"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
