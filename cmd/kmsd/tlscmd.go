package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kmsd/kmsd/cluster"
)

const tlsUsage = `Usage: kmsd tls ca     --dir DIR [--days 3650]
       kmsd tls node   --dir DIR --node-id ID [--hosts NAME,IP,...] [--days 365]
       kmsd tls client --dir DIR --name NAME [--user-arn ARN --user-id ID] [--days 90]

Creates a certificate authority for a cluster and certificates issued by it
(ECDSA P-256), for a test cluster or a small deployment:

  ca      DIR/ca.pem and DIR/ca-key.pem (mode 0600). Keep the CA key off
          the members; it is needed only to issue certificates.
  node    DIR/ID.pem and DIR/ID-key.pem: a member certificate. It names
          ` + cluster.PeerName + ` (what members check each other against on
          the Raft port and for forwarded commands) and every --hosts entry
          (the names and addresses clients use to reach this member's API).
  client  DIR/client-NAME.pem and DIR/client-NAME-key.pem: a client
          certificate for the API; it cannot act as a member. With
          --user-arn arn:aws:iam::ACCOUNT:user/USER and --user-id (the
          user's UserId, AIDA…: kmsctl iam get-user --user-name USER
          --query User.UserId --output text) it names that IAM user, and
          calls made with it need no signature: they are the user's (the
          user must exist; deleting the user ends the certificate's use,
          even if a user of the same name is made again). Without them,
          calls must still be signed.

A member runs with --tls-cert-file DIR/ID.pem --tls-key-file DIR/ID-key.pem
--tls-ca-file DIR/ca.pem. No file is ever overwritten.
`

// runTLS implements "kmsd tls".
func runTLS(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, tlsUsage)
		return errors.New("tls: ca, node or client?")
	}
	what := args[0]
	fs := flag.NewFlagSet("kmsd tls "+what, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), tlsUsage) }
	dir := fs.String("dir", "", "directory of the CA and the certificates")
	days := fs.Int("days", 0, "validity in days (default 3650 for the CA, 365 for a node, 90 for a client)")
	nodeID := fs.String("node-id", "", "the member's node id (node)")
	hosts := fs.String("hosts", "", "comma-separated DNS names and IP addresses of the member (node)")
	name := fs.String("name", "", "the client's name (client)")
	userARN := fs.String("user-arn", "", "the IAM user the certificate stands for (client; optional)")
	userID := fs.String("user-id", "", "that user's UserId, AIDA… (client; with --user-arn)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *dir == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("tls: --dir DIR is required")
	}
	validity := func(def int) time.Duration {
		if *days > 0 {
			def = *days
		}
		return time.Duration(def) * 24 * time.Hour
	}
	caCert, caKey := filepath.Join(*dir, "ca.pem"), filepath.Join(*dir, "ca-key.pem")
	switch what {
	case "ca":
		if err := os.MkdirAll(*dir, 0o700); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		ca, err := cluster.NewCA("kmsd cluster CA", validity(3650))
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		if err := ca.WriteFiles(caCert, caKey); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		fmt.Fprintf(stdout, "Created CA %s (key %s, mode 0600), valid until %s.\n", caCert, caKey, ca.Cert.NotAfter.Format(time.DateOnly))
		return nil
	case "node", "client":
	default:
		fs.Usage()
		return fmt.Errorf("tls: unknown command %q (ca, node or client)", what)
	}
	ca, err := cluster.LoadCA(caCert, caKey)
	if err != nil {
		return fmt.Errorf("tls: the CA in %s (create it with 'kmsd tls ca --dir %s'): %w", *dir, *dir, err)
	}
	var certPEM, keyPEM []byte
	var base string
	if what == "node" {
		if !validNodeFileName(*nodeID) {
			return fmt.Errorf("tls: --node-id %q must be letters, digits, '-', '_' or '.'", *nodeID)
		}
		var hs []string
		for _, h := range strings.Split(*hosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hs = append(hs, h)
			}
		}
		certPEM, keyPEM, err = ca.IssueNodeCert(*nodeID, hs, validity(365))
		base = *nodeID
	} else {
		if !validNodeFileName(*name) {
			return fmt.Errorf("tls: --name %q must be letters, digits, '-', '_' or '.'", *name)
		}
		certPEM, keyPEM, err = ca.IssueClientCert(*name, *userARN, *userID, validity(90))
		base = "client-" + *name
	}
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	certFile, keyFile := filepath.Join(*dir, base+".pem"), filepath.Join(*dir, base+"-key.pem")
	if _, err := os.Stat(certFile); err == nil {
		return fmt.Errorf("tls: %s exists; not overwritten", certFile)
	}
	if err := cluster.WriteCertFiles(certFile, certPEM, keyFile, keyPEM); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	fmt.Fprintf(stdout, "Created %s certificate %s (key %s, mode 0600).\n", what, certFile, keyFile)
	return nil
}

func validNodeFileName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}
