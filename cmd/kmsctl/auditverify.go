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
	"io"
	"os"
	"path/filepath"
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
	// CheckpointTreeSize is the size of the head a --checkpoint file held
	// and the log still holds (absent when the file did not exist yet).
	CheckpointTreeSize *uint64 `json:"CheckpointTreeSize,omitempty"`
	Checkpoint         string  `json:"Checkpoint,omitempty"`
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
	cpPath, withCheckpoint := c.args.strings["checkpoint"]
	if withCheckpoint && cpPath == "" {
		return nil, usagef("--checkpoint needs a file path")
	}
	var l *fetchedLog
	var source string
	if path, ok := c.args.strings["file"]; ok {
		l, err = readExportLog(path)
		source = keyFromFile
	} else {
		l, err = fetchLog(ctx, c)
		source = keyFromServer
	}
	if err != nil {
		return nil, err
	}
	sum, err := verifyFetched(c, l, trusted, source)
	if err != nil || !withCheckpoint {
		return sum, err
	}
	pub := trusted
	if pub == nil {
		pub = l.pub
	}
	return sum, checkpoint(c, cpPath, l, pub, sum)
}

// checkpoint checks the verified log l against the checkpoint at path, if
// the file exists, and saves l's newest head there.
func checkpoint(c *call, path string, l *fetchedLog, pub ed25519.PublicKey, sum *logSummary) error {
	b, err := readCheckpoint(path)
	switch {
	case err == nil:
		cp, err := audit.ParseCheckpoint(b)
		if err != nil {
			return fmt.Errorf("%w: --checkpoint %s: %v", errLocal, path, err)
		}
		if err := audit.CheckCheckpoint(l.heads, cp, pub); errors.Is(err, audit.ErrBadCheckpoint) {
			return fmt.Errorf("%w: --checkpoint %s: %v (was it saved for another log or key?)", errLocal, path, err)
		} else if err != nil {
			return &unverifiedError{err}
		}
		size := cp.Head.Size
		sum.CheckpointTreeSize = &size
	case !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: --checkpoint: %v", errLocal, err)
	}
	sum.Checkpoint = path
	n := len(l.heads)
	if n == 0 {
		return nil // nothing signed yet: nothing to keep
	}
	out, err := audit.MarshalCheckpoint(l.heads[n-1], time.Now())
	if err == nil {
		err = writeFileAtomic(path, out)
	}
	if err != nil {
		return fmt.Errorf("%w: --checkpoint: %v", errLocal, err)
	}
	return nil
}

// readCheckpoint reads the checkpoint file at path, at most one byte more
// than a checkpoint can be (ParseCheckpoint refuses it then).
func readCheckpoint(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, audit.MaxCheckpointSize+1))
}

// writeFileAtomic replaces path with b (mode 0600) through a file renamed
// over it, so that a crash leaves the old checkpoint or the new one.
func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err == nil {
		if _, err = tmp.Write(b); err == nil {
			err = tmp.Sync()
		}
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readExportLog reads an export file.
func readExportLog(path string) (*fetchedLog, error) {
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
	return &fetchedLog{start: e.FirstIndex, records: e.Records, heads: e.Heads, pub: e.PublicKey, badHead: -1}, nil
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
