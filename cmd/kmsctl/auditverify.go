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

// maxHeadsPage and maxEventsPage are the largest pages kmsd serves.
const (
	maxHeadsPage  = 10_000
	maxEventsPage = 10_000
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
	RecordCount     int    `json:"RecordCount"`
	HeadCount       int    `json:"HeadCount"`
	TreeSize        uint64 `json:"TreeSize"`
	RootHash        string `json:"RootHash"`
	Timestamp       string `json:"Timestamp,omitempty"`
	KeyID           string `json:"KeyId"`
	PublicKeySource string `json:"PublicKeySource"`
	OutFile         string `json:"OutFile,omitempty"`
}

// fetchedLog is the audit log as kmsd served it.
type fetchedLog struct {
	records [][]byte
	heads   []audit.SignedTreeHead
	pub     ed25519.PublicKey
}

// fetchLog asks kmsd to sign a head over every record so far, then reads
// every signed head and the records up to the last one.
func fetchLog(ctx context.Context, c *call) (*fetchedLog, error) {
	if _, err := c.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
		return nil, &opError{"SignTreeHead", err}
	}
	pk, err := c.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	if err != nil {
		return nil, &opError{"GetPublicKey", err}
	}
	l := &fetchedLog{}
	if l.pub, err = serverKey(pk); err != nil {
		return nil, err
	}
	if l.heads, err = fetchHeads(ctx, c); err != nil {
		return nil, err
	}
	var size uint64
	if n := len(l.heads); n > 0 {
		size = l.heads[n-1].Head.Size
	}
	if l.records, err = fetchRecords(ctx, c, size); err != nil {
		return nil, err
	}
	return l, nil
}

func fetchHeads(ctx context.Context, c *call) ([]audit.SignedTreeHead, error) {
	var heads []audit.SignedTreeHead
	for {
		resp, err := c.audit.GetSignedTreeHeads(ctx, &kmsv1.GetSignedTreeHeadsRequest{
			StartIndex: int64(len(heads)), MaxResults: maxHeadsPage})
		if err != nil {
			return nil, &opError{"GetSignedTreeHeads", err}
		}
		for _, h := range resp.GetHeads() {
			sth, err := audit.ParseSignedTreeHead(h.GetHead(), h.GetSignature(), h.GetKeyId())
			if err != nil {
				return nil, &unverifiedError{fmt.Errorf("signed tree head %d: %w", len(heads), err)}
			}
			heads = append(heads, sth)
		}
		if len(resp.GetHeads()) == 0 || int64(len(heads)) >= resp.GetCount() {
			return heads, nil
		}
	}
}

// fetchRecords reads records [0, size) in order.
func fetchRecords(ctx context.Context, c *call, size uint64) ([][]byte, error) {
	var records [][]byte
	for uint64(len(records)) < size {
		resp, err := c.audit.GetEvents(ctx, &kmsv1.GetEventsRequest{
			StartIndex: int64(len(records)), MaxResults: int32(min(size-uint64(len(records)), maxEventsPage))})
		if err != nil {
			return nil, &opError{"GetEvents", err}
		}
		if len(resp.GetEvents()) == 0 {
			return nil, &unverifiedError{fmt.Errorf("kmsd served %d records, but its last signed tree head covers %d",
				len(records), size)}
		}
		for _, e := range resp.GetEvents() {
			if e.GetIndex() != int64(len(records)) {
				return nil, &unverifiedError{fmt.Errorf("kmsd served record %d where record %d was expected",
					e.GetIndex(), len(records))}
			}
			if uint64(len(records)) < size {
				records = append(records, e.GetRecord())
			}
		}
	}
	return records, nil
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
	sum, err := verifyFetched(c, l.records, l.heads, trusted, l.pub, keyFromServer)
	if err != nil {
		return nil, err
	}
	sum.OutFile = path
	return sum, nil
}

func writeExportFile(path string, l *fetchedLog) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("%w: --outfile: %v", errLocal, err)
	}
	err = f.Chmod(0o600) // the file may have existed with looser permissions
	if err == nil {
		err = audit.WriteExport(f, l.records, l.heads, l.pub)
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
	return verifyFetched(c, l.records, l.heads, trusted, l.pub, keyFromServer)
}

func verifyFile(c *call, path string, trusted ed25519.PublicKey) (any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--file: %v", err)
	}
	defer f.Close()
	records, heads, pub, err := audit.ReadExport(bufio.NewReader(f))
	switch {
	case errors.Is(err, audit.ErrMalformedExport), errors.Is(err, audit.ErrMalformedHead):
		return nil, &unverifiedError{err}
	case err != nil:
		return nil, fmt.Errorf("%w: --file: %v", errLocal, err)
	}
	return verifyFetched(c, records, heads, trusted, pub, keyFromFile)
}

// verifyFetched runs audit.VerifyLog with the trusted key if there is one,
// and otherwise with the log's own key from source (noting on standard
// error what that proves).
func verifyFetched(c *call, records [][]byte, heads []audit.SignedTreeHead, trusted, own ed25519.PublicKey, source string) (*logSummary, error) {
	pub := trusted
	if pub == nil {
		pub = own
		fmt.Fprintf(c.stderr, "kmsctl: note: verified with the public key from the %s, which shows only that the log is consistent;"+
			" pass --public-key or --public-key-file with the key obtained out of band to show it is kmsd's\n", source)
	} else {
		source = keyFromArgument
	}
	if err := audit.VerifyLog(records, heads, pub); err != nil {
		return nil, &unverifiedError{err}
	}
	id := audit.KeyIDOf(pub)
	sum := &logSummary{Verified: true, RecordCount: len(records), HeadCount: len(heads),
		RootHash: audit.EmptyRoot().String(), KeyID: hex.EncodeToString(id[:]), PublicKeySource: source}
	if n := len(heads); n > 0 {
		h := heads[n-1].Head
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
