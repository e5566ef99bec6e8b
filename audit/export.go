package audit

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxExportSize bounds the size of an export file ReadExport accepts.
const MaxExportSize = 1 << 30

// Export is a log read back from an export file by VerifyExport.
type Export struct {
	// FirstIndex is the log position of Records[0]: the records before it
	// were removed by a retention policy (member kmsdFirstIndex, absent
	// when 0). Their leaf hashes are in the heads' Leaves.
	FirstIndex int64
	// Records are the records in log order, as hashed into the tree.
	Records [][]byte
	// Heads are the signed tree heads, oldest first.
	Heads []SignedTreeHead
	// PublicKey is the key the heads were verified with: the caller's, or
	// the file's own when KeyFromFile is set.
	PublicKey   ed25519.PublicKey
	KeyFromFile bool
}

// exportHead is one element of kmsdSignedTreeHeads.
type exportHead struct {
	Head      []byte   `json:"head"`
	Signature []byte   `json:"signature"`
	KeyID     string   `json:"keyId"`
	Leaves    []string `json:"leaves,omitempty"`
}

// WriteExport writes records, heads and the log's public key as an export
// file (see the package documentation for the format). Each record must be
// a compact JSON object of at most MaxEventSize bytes, such as the output of
// Event.Canonical; it is written byte for byte. A head without Leaves gets
// the leaf hashes of its interval when the records reproduce its root, so
// that VerifyExport can later name the first altered record.
func WriteExport(w io.Writer, records [][]byte, heads []SignedTreeHead, pub ed25519.PublicKey) error {
	return writeExportFile(w, 0, records, withLeaves(records, heads), pub)
}

// WriteExportFrom writes an export of a log whose first start records were
// removed: records begin at log position start, and heads must carry the
// Leaves of every record before it (VerifyLogFrom explains why). The file
// gets a kmsdFirstIndex member; readers of CloudTrail files see only its
// Records. The heads argument is written as given.
func WriteExportFrom(w io.Writer, start int64, records [][]byte, heads []SignedTreeHead, pub ed25519.PublicKey) error {
	return writeExportFile(w, start, records, heads, pub)
}

func writeExportFile(w io.Writer, start int64, records [][]byte, heads []SignedTreeHead, pub ed25519.PublicKey) error {
	if start < 0 {
		return fmt.Errorf("audit: export from negative position %d", start)
	}
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("audit: bad Ed25519 public key length %d", len(pub))
	}
	for i, rec := range records {
		if err := checkRecord(rec, false); err != nil {
			return fmt.Errorf("audit: export record %d: %w", i, err)
		}
	}
	for i, sth := range heads {
		if err := sth.Head.check(); err != nil {
			return fmt.Errorf("audit: export head %d: %w", i, err)
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString(`{"Records":[`)
	for i, rec := range records {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
		bw.Write(rec)
	}
	bw.WriteString("\n],\n\"kmsdSignedTreeHeads\":[")
	for i, sth := range heads {
		if i > 0 {
			bw.WriteByte(',')
		}
		b, err := json.Marshal(toExportHead(sth))
		if err != nil {
			return fmt.Errorf("audit: export head %d: %w", i, err)
		}
		bw.WriteByte('\n')
		bw.Write(b)
	}
	if start > 0 {
		fmt.Fprintf(bw, "\n],\n\"kmsdFirstIndex\":%d,\n\"kmsdPublicKey\":%q}\n", start, base64.StdEncoding.EncodeToString(pub))
		return bw.Flush()
	}
	fmt.Fprintf(bw, "\n],\n\"kmsdPublicKey\":%q}\n", base64.StdEncoding.EncodeToString(pub))
	return bw.Flush()
}

// checkRecord enforces what a record in an export or proof must be: a JSON
// object of at most MaxEventSize bytes, in compact form unless loose.
func checkRecord(rec []byte, loose bool) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, rec); err != nil {
		return fmt.Errorf("%w: record is not JSON: %v", ErrMalformedExport, err)
	}
	switch c := buf.Bytes(); {
	case len(c) == 0 || c[0] != '{':
		return fmt.Errorf("%w: record is not a JSON object", ErrMalformedExport)
	case len(c) > MaxEventSize:
		return fmt.Errorf("%w: record of %d bytes, limit %d", ErrMalformedExport, len(c), MaxEventSize)
	case !loose && !bytes.Equal(c, rec):
		return fmt.Errorf("%w: record is not compact JSON", ErrMalformedExport)
	}
	return nil
}

// withLeaves returns heads, filling in the Leaves of each head whose
// interval the records reproduce.
func withLeaves(records [][]byte, heads []SignedTreeHead) []SignedTreeHead {
	var tree Tree
	for _, rec := range records {
		tree.Append(LeafHash(rec))
	}
	out := make([]SignedTreeHead, len(heads))
	for i, sth := range heads {
		out[i] = sth
		h := sth.Head
		if len(sth.Leaves) > 0 || h.Size > uint64(tree.Size()) {
			continue
		}
		if root, _ := tree.Root(int64(h.Size)); equalHash(root, h.Root) {
			out[i].Leaves, _ = tree.LeafHashes(int64(h.PrevSize), int64(h.Size))
		}
	}
	return out
}

func toExportHead(sth SignedTreeHead) exportHead {
	e := exportHead{Head: sth.Head.Marshal(), Signature: sth.Signature, KeyID: hex.EncodeToString(sth.KeyID[:])}
	for _, l := range sth.Leaves {
		e.Leaves = append(e.Leaves, l.String())
	}
	return e
}

// ParseSignedTreeHead assembles a SignedTreeHead from its parts as an API
// or a file carries them: the signed text (see TreeHead.Marshal), the
// 64-byte Ed25519 signature and the 8-byte KeyID. It checks their form, not
// the signature: see VerifySignedTreeHead. Errors wrap ErrMalformedHead.
func ParseSignedTreeHead(head, signature, keyID []byte) (SignedTreeHead, error) {
	h, err := ParseTreeHead(head)
	if err != nil {
		return SignedTreeHead{}, err
	}
	sth := SignedTreeHead{Head: h, Signature: bytes.Clone(signature)}
	if len(keyID) != len(sth.KeyID) {
		return SignedTreeHead{}, fmt.Errorf("%w: key ID of %d bytes", ErrMalformedHead, len(keyID))
	}
	copy(sth.KeyID[:], keyID)
	if len(signature) != ed25519.SignatureSize {
		return SignedTreeHead{}, fmt.Errorf("%w: signature of %d bytes", ErrMalformedHead, len(signature))
	}
	return sth, nil
}

func fromExportHead(e exportHead) (SignedTreeHead, error) {
	id, err := hex.DecodeString(e.KeyID)
	if err != nil {
		return SignedTreeHead{}, fmt.Errorf("%w: keyId %.40q is not hex", ErrMalformedExport, e.KeyID)
	}
	sth, err := ParseSignedTreeHead(e.Head, e.Signature, id)
	if err != nil {
		return SignedTreeHead{}, err
	}
	h := sth.Head
	if e.Leaves == nil {
		return sth, nil
	}
	if uint64(len(e.Leaves)) != h.Size-h.PrevSize {
		return SignedTreeHead{}, fmt.Errorf("%w: %d leaf hashes for %d records", ErrMalformedExport, len(e.Leaves), h.Size-h.PrevSize)
	}
	sth.Leaves = make([]Hash, len(e.Leaves))
	for j, s := range e.Leaves {
		if sth.Leaves[j], err = parseHash(s); err != nil {
			return SignedTreeHead{}, err
		}
	}
	return sth, nil
}

// parseHash decodes a hash written as standard base64.
func parseHash(s string) (Hash, error) {
	var h Hash
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%w: %q is not a base64 SHA-256 hash", ErrMalformedExport, s)
	}
	copy(h[:], b)
	return h, nil
}

// parsePublicKey decodes a raw Ed25519 public key.
func parsePublicKey(b []byte) (ed25519.PublicKey, error) {
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: public key of %d bytes, want %d", ErrMalformedExport, len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// limitReader reads at most n bytes of r and remembers why it stopped, so
// that a decoding error can be told apart from a failing or oversized input.
type limitReader struct {
	r       io.Reader
	n       int64
	tooBig  bool
	readErr error
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.tooBig {
		return 0, ErrMalformedExport
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	if l.n -= int64(n); l.n < 0 {
		l.tooBig = true
		return n, ErrMalformedExport
	}
	if err != nil && !errors.Is(err, io.EOF) {
		l.readErr = err
	}
	return n, err
}

// wrap turns an error met while decoding from l into the package's error:
// the reader's own failure, the size limit, or a malformed input.
func (l *limitReader) wrap(what string, err error, limit int64) error {
	switch {
	case l.readErr != nil:
		return fmt.Errorf("audit: read %s: %w", what, l.readErr)
	case l.tooBig:
		return fmt.Errorf("%w: %s larger than %d bytes", ErrMalformedExport, what, limit)
	case errors.Is(err, ErrMalformedExport), errors.Is(err, ErrMalformedHead):
		return fmt.Errorf("%s: %w", what, err)
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: %s: %v", ErrMalformedExport, what, err)
}
