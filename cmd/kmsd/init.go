package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/kmsd/kmsd/envelope"
)

const initUsage = `Usage: kmsd init --root-key-file PATH

Creates a new 256-bit root key in PATH (mode 0600). Every key's material is
wrapped under the root key: keep the file secret and back it up; without it
no key and no ciphertext can ever be recovered. The file is never
overwritten.
`

// runInit implements "kmsd init".
func runInit(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("kmsd init", flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), initUsage) }
	path := fs.String("root-key-file", "", "where to write the new root key")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *path == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("init: --root-key-file PATH is required")
	}
	if err := envelope.WriteRootKeyFile(*path, rand.Reader); err != nil {
		return fmt.Errorf("init: %w", err)
	}
	fmt.Fprintf(stdout, "Created root key %s (mode 0600). Back it up and keep it secret.\n", *path)
	return nil
}
