package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxProofSize bounds the encoded size of an InclusionProof that
// ParseInclusionProof accepts. The record inside is bounded by MaxEventSize
// once compacted.
const MaxProofSize = 1 << 20

// maxAuditPath bounds the length of an audit path: a tree of at most 2^63
// leaves has paths of at most 63 hashes.
const maxAuditPath = 63

// InclusionProof is a self-contained proof that Record is the record at
// Index of the log described by Head: it can be saved, handed to someone
// else and checked offline with Verify and the log's public key.
type InclusionProof struct {
	Record    []byte // as hashed into the tree
	Index     int64
	AuditPath []Hash // the RFC 6962 audit path, leaf to root
	Head      SignedTreeHead
	// PublicKey is the key the log said it signs with, if known. Verify
	// does not use it: see ParseInclusionProof.
	PublicKey ed25519.PublicKey
}

// Verify checks p with pub: that Head is signed by pub, and that the audit
// path leads from the leaf hash of Record at Index to Head's root. It
// returns the verified head, or an error wrapping ErrUnknownKey,
// ErrBadSignature or ErrMalformedHead (the head) or ErrInvalidProof (the
// path).
func (p *InclusionProof) Verify(pub ed25519.PublicKey) (TreeHead, error) {
	h, err := VerifySignedTreeHead(pub, p.Head)
	if err != nil {
		return TreeHead{}, err
	}
	if h.Size > uint64(maxInt64) {
		return TreeHead{}, invalidProof("tree size %d out of range", h.Size)
	}
	if err := VerifyInclusion(LeafHash(p.Record), p.Index, int64(h.Size), p.AuditPath, h.Root); err != nil {
		return TreeHead{}, err
	}
	return h, nil
}

const maxInt64 = 1<<63 - 1

// proofJSON is the JSON form of an InclusionProof. TreeSize and RootHash
// repeat what the signed Head says, for readers.
type proofJSON struct {
	Record    json.RawMessage `json:"Record,omitempty"`
	Index     int64           `json:"Index"`
	TreeSize  uint64          `json:"TreeSize"`
	RootHash  string          `json:"RootHash"`
	AuditPath []string        `json:"AuditPath"`
	Head      []byte          `json:"Head"`
	Signature []byte          `json:"Signature"`
	KeyID     string          `json:"KeyId"`
	PublicKey []byte          `json:"PublicKey,omitempty"`
}

// Marshal returns p as a JSON document (compact, no trailing newline):
//
//	{"Record":{...the record, byte for byte...},"Index":5,"TreeSize":10,
//	 "RootHash":"<base64>","AuditPath":["<base64>",...],
//	 "Head":"<base64 of the signed text>","Signature":"<base64>",
//	 "KeyId":"<hex>","PublicKey":"<base64>"}
//
// Record must be a compact JSON object, as Event.Canonical writes.
func (p *InclusionProof) Marshal() ([]byte, error) {
	if err := checkRecord(p.Record, false); err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	if err := p.Head.Head.check(); err != nil {
		return nil, err
	}
	j := proofJSON{Index: p.Index, TreeSize: p.Head.Head.Size, RootHash: p.Head.Head.Root.String(),
		AuditPath: []string{}, Head: p.Head.Head.Marshal(), Signature: p.Head.Signature,
		KeyID: hex.EncodeToString(p.Head.KeyID[:]), PublicKey: p.PublicKey}
	for _, h := range p.AuditPath {
		j.AuditPath = append(j.AuditPath, h.String())
	}
	// The record is spliced in as it is: encoding/json would escape its
	// HTML characters and change the bytes that were hashed.
	rest, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("audit: inclusion proof: %w", err)
	}
	out := append([]byte(`{"Record":`), p.Record...)
	return append(append(out, ','), rest[1:]...), nil
}

// ParseInclusionProof decodes the document written by Marshal, of at most
// MaxProofSize bytes. The record is taken with insignificant whitespace
// removed, so a proof that was re-indented still verifies. TreeSize and
// RootHash must agree with the signed head. PublicKey is returned as found
// but proves nothing by itself: verify with a key obtained out of band.
// Errors wrap ErrMalformedExport or ErrMalformedHead.
func ParseInclusionProof(b []byte) (*InclusionProof, error) {
	if len(b) > MaxProofSize {
		return nil, fmt.Errorf("%w: proof larger than %d bytes", ErrMalformedExport, MaxProofSize)
	}
	lr := &limitReader{r: bytes.NewReader(b), n: MaxProofSize}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	var j proofJSON
	err := dec.Decode(&j)
	if err == nil {
		if _, terr := dec.Token(); !errors.Is(terr, io.EOF) {
			err = fmt.Errorf("%w: trailing data", ErrMalformedExport)
		}
	}
	if err != nil {
		return nil, lr.wrap("inclusion proof", err, MaxProofSize)
	}
	p, err := j.proof()
	if err != nil {
		return nil, fmt.Errorf("inclusion proof: %w", err)
	}
	return p, nil
}

func (j *proofJSON) proof() (*InclusionProof, error) {
	rec, err := compactRecord(j.Record)
	if err != nil {
		return nil, err
	}
	sth, err := fromExportHead(exportHead{Head: j.Head, Signature: j.Signature, KeyID: j.KeyID})
	if err != nil {
		return nil, err
	}
	if j.TreeSize != sth.Head.Size || j.RootHash != sth.Head.Root.String() {
		return nil, fmt.Errorf("%w: TreeSize or RootHash differs from the signed head", ErrMalformedExport)
	}
	if len(j.AuditPath) > maxAuditPath {
		return nil, fmt.Errorf("%w: audit path of %d hashes", ErrMalformedExport, len(j.AuditPath))
	}
	p := &InclusionProof{Record: rec, Index: j.Index, Head: sth, AuditPath: []Hash{}}
	for _, s := range j.AuditPath {
		h, err := parseHash(s)
		if err != nil {
			return nil, err
		}
		p.AuditPath = append(p.AuditPath, h)
	}
	if j.PublicKey != nil {
		if p.PublicKey, err = parsePublicKey(j.PublicKey); err != nil {
			return nil, err
		}
	}
	return p, nil
}
