package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/server"
)

const rootCredentialsUsage = `Usage: kmsd root-credentials --root-key-file PATH

Prints the account root's access key, which signs requests to kmsd (kmsctl
reads it from KMS_ACCESS_KEY_ID and KMS_SECRET_ACCESS_KEY). It is derived
from the root key, so whoever holds the root key file can print it: keep
both secret. The output is shell lines:

  KMS_ACCESS_KEY_ID=AKIA...
  KMS_SECRET_ACCESS_KEY=...

for example: set -a; . <(kmsd root-credentials --root-key-file /etc/kmsd/root.key); set +a
`

// runRootCredentials implements "kmsd root-credentials".
func runRootCredentials(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kmsd root-credentials", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), rootCredentialsUsage) }
	path := fs.String("root-key-file", "", "the root key file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("root-credentials: --root-key-file PATH is required")
	}
	root, err := envelope.ReadRootKeyFile(*path)
	if err != nil {
		return fmt.Errorf("root-credentials: %w", err)
	}
	fmt.Fprint(stdout, credentialLines(root))
	return nil
}

func credentialLines(root envelope.Key) string {
	id, secret := server.RootAccessKey(root)
	return fmt.Sprintf("KMS_ACCESS_KEY_ID=%s\nKMS_SECRET_ACCESS_KEY=%s\n", id, secret)
}

// devCredentialsFile is where --dev writes the root's credentials.
const devCredentialsFile = "dev-credentials"

// writeDevCredentials writes the root's credentials to
// <data-dir>/dev-credentials (mode 0600) the first time, and prints them
// then, as a development server does.
func writeDevCredentials(dir string, root envelope.Key, log *slog.Logger, stdout io.Writer) error {
	path := filepath.Join(dir, devCredentialsFile)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		log.Warn("DEVELOPMENT MODE: the root's credentials are in "+path, "path", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("dev credentials: %w", err)
	}
	lines := credentialLines(root)
	if _, err := f.WriteString(lines); err != nil {
		f.Close()
		return fmt.Errorf("dev credentials: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("dev credentials: %w", err)
	}
	fmt.Fprintf(stdout, "DEVELOPMENT MODE: the account root's credentials (also in %s):\n\n%s\nUse them with: set -a; . %s; set +a\n\n", path, lines, path)
	return nil
}
