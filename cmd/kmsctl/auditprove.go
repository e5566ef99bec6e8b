package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// proofSummary is the result of audit prove --file.
type proofSummary struct {
	Verified        bool   `json:"Verified"`
	EventID         string `json:"EventId,omitempty"`
	Index           int64  `json:"Index"`
	TreeSize        uint64 `json:"TreeSize"`
	RootHash        string `json:"RootHash"`
	Timestamp       string `json:"Timestamp"`
	KeyID           string `json:"KeyId"`
	PublicKeySource string `json:"PublicKeySource"`
}

// prove fetches and checks an inclusion proof, or checks a saved one.
func prove(ctx context.Context, c *call) (any, error) {
	a := c.args
	trusted, err := trustedKey(a)
	if err != nil {
		return nil, err
	}
	if path, ok := a.strings["file"]; ok {
		if a.set["event-id"] || a.set["index"] || a.set["tree-size"] {
			return nil, usagef("--file checks a saved proof: give no --event-id, --index or --tree-size")
		}
		return proveFile(c, path, trusted)
	}
	if a.set["event-id"] == a.set["index"] {
		return nil, usagef("give --event-id or --index (or --file)")
	}
	req := &kmsv1.GetInclusionProofRequest{EventId: a.strings["event-id"]}
	if req.Index, err = int64Flag(a, "index", 0); err != nil {
		return nil, err
	}
	if req.TreeSize, err = int64Flag(a, "tree-size", 0); err != nil {
		return nil, err
	}
	resp, err := c.audit.GetInclusionProof(ctx, req)
	if err != nil {
		return nil, err
	}
	p, err := proofOf(resp)
	if err != nil {
		return nil, &unverifiedError{err}
	}
	pub, source := trusted, keyFromArgument
	if pub == nil {
		pub, source = p.PublicKey, keyFromServer
	}
	if _, err := checkProof(c, p, pub, source); err != nil {
		return nil, err
	}
	if id := eventID(p.Record); req.EventId != "" && id != req.EventId {
		return nil, &unverifiedError{fmt.Errorf("asked for event %q, kmsd proved event %q", req.EventId, id)}
	}
	if !a.set["event-id"] && p.Index != req.Index {
		return nil, &unverifiedError{fmt.Errorf("asked for record %d, kmsd proved record %d", req.Index, p.Index)}
	}
	p.PublicKey = pub
	doc, err := p.Marshal()
	if err != nil {
		return nil, &unverifiedError{err}
	}
	return json.RawMessage(doc), nil
}

// proofOf assembles the proof kmsd sent.
func proofOf(resp *kmsv1.GetInclusionProofResponse) (*audit.InclusionProof, error) {
	h := resp.GetHead()
	sth, err := audit.ParseSignedTreeHead(h.GetHead(), h.GetSignature(), h.GetKeyId())
	if err != nil {
		return nil, err
	}
	p := &audit.InclusionProof{Record: resp.GetEvent().GetRecord(), Index: resp.GetEvent().GetIndex(), Head: sth}
	for i, b := range resp.GetAuditPath() {
		var hash audit.Hash
		if len(b) != len(hash) {
			return nil, fmt.Errorf("audit path hash %d has %d bytes", i, len(b))
		}
		copy(hash[:], b)
		p.AuditPath = append(p.AuditPath, hash)
	}
	if len(resp.GetPublicKey()) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("kmsd sent a public key of %d bytes", len(resp.GetPublicKey()))
	}
	p.PublicKey = resp.GetPublicKey()
	return p, nil
}

func proveFile(c *call, path string, trusted ed25519.PublicKey) (any, error) {
	b, err := readLimited(path, nil)
	if err != nil {
		return nil, fmt.Errorf("--file: %w", err)
	}
	p, err := audit.ParseInclusionProof(b)
	if err != nil {
		return nil, &unverifiedError{err}
	}
	pub, source := trusted, keyFromArgument
	if pub == nil {
		pub, source = p.PublicKey, keyFromFile
	}
	if pub == nil {
		return nil, usagef("the proof carries no public key: give --public-key or --public-key-file")
	}
	h, err := checkProof(c, p, pub, source)
	if err != nil {
		return nil, err
	}
	id := audit.KeyIDOf(pub)
	return proofSummary{Verified: true, EventID: eventID(p.Record), Index: p.Index, TreeSize: h.Size,
		RootHash: h.Root.String(), Timestamp: h.Timestamp.Format(time.RFC3339Nano),
		KeyID: hex.EncodeToString(id[:]), PublicKeySource: source}, nil
}

// checkProof verifies p with pub, noting on standard error what a key that
// did not come from the caller proves.
func checkProof(c *call, p *audit.InclusionProof, pub ed25519.PublicKey, source string) (audit.TreeHead, error) {
	if source != keyFromArgument {
		fmt.Fprintf(c.stderr, "kmsctl: note: verified with the public key from the %s, which shows only that the proof is consistent;"+
			" pass --public-key or --public-key-file with the key obtained out of band to show kmsd signed it\n", source)
	}
	h, err := p.Verify(pub)
	if err != nil {
		return audit.TreeHead{}, &unverifiedError{err}
	}
	return h, nil
}

// eventID reads a record's eventID, or "" if it has none.
func eventID(record []byte) string {
	var e struct {
		EventID string `json:"eventID"`
	}
	json.Unmarshal(record, &e)
	return e.EventID
}
