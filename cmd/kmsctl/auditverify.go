package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Where the key that verified a log or proof came from.
const (
	keyFromArgument = "argument" // --public-key or --public-key-file
	keyFromServer   = "server"   // GetPublicKey, or the key in kmsd's answer
	keyFromFile     = "file"     // the export or proof file itself
)

// logSummary is the result of audit export and audit verify.
type logSummary struct {
	Verified        bool   `json:"Verified"`
	FirstIndex      int64  `json:"FirstIndex,omitempty"`
	RecordCount     int    `json:"RecordCount"`
	HeadCount       int    `json:"HeadCount"`
	TreeSize        uint64 `json:"TreeSize"`
	RootHash        string `json:"RootHash"`
	Timestamp       string `json:"Timestamp,omitempty"`
	KeyID           string `json:"KeyId"`
	PublicKeySource string `json:"PublicKeySource"`
	OutFile         string `json:"OutFile,omitempty"`
}

// exportLog writes the log to --outfile (mode 0600) and verifies it.
func exportLog(ctx context.Context, c *call) (any, error) {
	path := c.args.strings["outfile"]
	if path == "" {
		return nil, usagef("--outfile is required")
	}
	trusted, err := trustedKey(c.args)
	if err != nil {
		return nil, err
	}
	l, err := fetchLog(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := writeExportFile(path, l); err != nil {
		return nil, err
	}
	sum, err := verifyFetched(c, l, trusted, keyFromServer)
	if err != nil {
		return nil, err
	}
	sum.OutFile = path
	return sum, nil
}

// writeExportFile writes l as an export file: its readable heads, and its
// records with those an export cannot hold replaced (see exportable).
func writeExportFile(path string, l *fetchedLog) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%w: --outfile: %v", errLocal, err)
	}
	err = f.Chmod(0o600) // the file may have existed with looser permissions
	if err == nil && l.start > 0 {
		err = audit.WriteExportFrom(f, l.start, exportable(l.start, l.records), l.heads, l.pub)
	} else if err == nil {
		err = audit.WriteExport(f, exportable(0, l.records), l.heads, l.pub)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%w: --outfile: %v", errLocal, err)
	}
	return nil
}

// verifyLog verifies the live log, or an export with --file.
func verifyLog(ctx context.Context, c *call) (any, error) {
	trusted, err := trustedKey(c.args)
	if err != nil {
		return nil, err
	}
	if path, ok := c.args.strings["file"]; ok {
		return verifyFile(c, path, trusted)
	}
	l, err := fetchLog(ctx, c)
	if err != nil {
		return nil, err
	}
	return verifyFetched(c, l, trusted, keyFromServer)
}

func verifyFile(c *call, path string, trusted ed25519.PublicKey) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--file: %v", err)
	}
	defer f.Close()
	e, err := audit.ReadExportFile(bufio.NewReader(f))
	switch {
	case errors.Is(err, audit.ErrMalformedExport), errors.Is(err, audit.ErrMalformedHead):
		return nil, &unverifiedError{err}
	case err != nil:
		return nil, fmt.Errorf("%w: --file: %v", errLocal, err)
	}
	l := &fetchedLog{start: e.FirstIndex, records: e.Records, heads: e.Heads, pub: e.PublicKey, badHead: -1}
	return verifyFetched(c, l, trusted, keyFromFile)
}

// verifyFetched checks l with the trusted key if there is one, and
// otherwise with the log's own key from source (noting on standard error
// what that proves). A log that checks out but that kmsd could not sign a
// new head for returns the signing error.
func verifyFetched(c *call, l *fetchedLog, trusted ed25519.PublicKey, source string) (*logSummary, error) {
	pub := trusted
	if pub == nil {
		pub = l.pub
		fmt.Fprintf(c.stderr, "kmsctl: note: verified with the public key from the %s, which shows only that the log is consistent;"+
			" pass --public-key or --public-key-file with the key obtained out of band to show it is kmsd's\n", source)
	} else {
		source = keyFromArgument
	}
	if err := l.check(pub); err != nil {
		return nil, &unverifiedError{err}
	}
	if l.signErr != nil {
		return nil, l.signErr
	}
	id := audit.KeyIDOf(pub)
	sum := &logSummary{Verified: true, FirstIndex: l.start, RecordCount: len(l.records), HeadCount: len(l.heads),
		RootHash: audit.EmptyRoot().String(), KeyID: hex.EncodeToString(id[:]), PublicKeySource: source}
	if n := len(l.heads); n > 0 {
		h := l.heads[n-1].Head
		sum.TreeSize, sum.RootHash, sum.Timestamp = h.Size, h.Root.String(), h.Timestamp.Format(time.RFC3339Nano)
	}
	return sum, nil
}

// serverKey checks the key kmsd sent.
func serverKey(resp *kmsv1.GetPublicKeyResponse) (ed25519.PublicKey, error) {
	pub := ed25519.PublicKey(resp.GetPublicKey())
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: kmsd sent a public key of %d bytes", errLocal, len(pub))
	}
	if id := audit.KeyIDOf(pub); resp.GetKeyId() != nil && !bytes.Equal(resp.GetKeyId(), id[:]) {
		return nil, fmt.Errorf("%w: kmsd sent key ID %x for a key whose ID is %x", errLocal, resp.GetKeyId(), id)
	}
	return pub, nil
}

// trustedKey returns the key given with --public-key or --public-key-file,
// or nil.
func trustedKey(a *parsedArgs) (ed25519.PublicKey, error) {
	v, inline := a.strings["public-key"]
	path, inFile := a.strings["public-key-file"]
	switch {
	case inline && inFile:
		return nil, usagef("give --public-key or --public-key-file, not both")
	case inline:
		return parseKey([]byte(v), "--public-key")
	case inFile:
		b, err := readLimited(path, nil)
		if err != nil {
			return nil, fmt.Errorf("--public-key-file: %w", err)
		}
		return parseKey(b, "--public-key-file")
	}
	return nil, nil
}

// parseKey reads an Ed25519 public key: 32 raw bytes, their base64, or a
// PEM "PUBLIC KEY" block.
func parseKey(b []byte, flag string) (ed25519.PublicKey, error) {
	if len(b) == ed25519.PublicKeySize {
		return ed25519.PublicKey(b), nil
	}
	if block, _ := pem.Decode(b); block != nil && block.Type == "PUBLIC KEY" {
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if pub, ok := k.(ed25519.PublicKey); err == nil && ok {
			return pub, nil
		}
		return nil, usagef("%s: the PEM block is not an Ed25519 public key", flag)
	}
	raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(b)))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, usagef("%s: not an Ed25519 public key (base64 of 32 bytes, 32 raw bytes or PEM)", flag)
	}
	return ed25519.PublicKey(raw), nil
}
