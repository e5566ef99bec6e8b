package server

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Signed tree heads, proofs, and what the signer refuses to sign.

func TestSignedHeadsAndProofs(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	var ids []string
	for i := range 5 {
		var hdr metadata.MD
		if _, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: md.GetKeyId(), Plaintext: []byte{byte(i)}}, grpc.Header(&hdr)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, hdr.Get(HeaderEventID)[0])
		if i == 2 {
			if _, err := h.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	pk, err := h.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(pk.GetPublicKey())
	for _, id := range ids {
		p, err := h.audit.GetInclusionProof(ctx, &kmsv1.GetInclusionProofRequest{EventId: id})
		if err != nil {
			t.Fatal(err)
		}
		if p.GetEvent().GetEventId() != id || !bytes.Equal(p.GetPublicKey(), pub) {
			t.Fatalf("proof for %s is about %s", id, p.GetEvent().GetEventId())
		}
		head := signedHead(t, p.GetHead())
		th, err := audit.VerifySignedTreeHead(pub, head)
		if err != nil {
			t.Fatal(err)
		}
		path := toHashes(p.GetAuditPath())
		leaf := audit.LeafHash(p.GetEvent().GetRecord())
		if err := audit.VerifyInclusion(leaf, p.GetEvent().GetIndex(), int64(th.Size), path, th.Root); err != nil {
			t.Fatalf("inclusion of %s: %v", id, err)
		}
		// The same proof does not hold for a changed record.
		changed := bytes.Replace(p.GetEvent().GetRecord(), []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1)
		if audit.VerifyInclusion(audit.LeafHash(changed), p.GetEvent().GetIndex(), int64(th.Size), path, th.Root) == nil {
			t.Fatal("a changed record verifies")
		}
	}
	// Each proof call is itself recorded; sign over everything and verify
	// the whole log offline.
	if _, err := h.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
		t.Fatal(err)
	}
	heads := h.allHeads(t)
	recs := h.allRecords(t)
	// The SignTreeHead call's own record comes after the head it returned.
	if err := audit.VerifyLog(recs[:heads[len(heads)-1].Head.Size], heads, pub); err != nil {
		t.Fatal(err)
	}
	if len(heads) < 3 {
		t.Fatalf("%d heads", len(heads))
	}
	c, err := h.audit.GetConsistencyProof(ctx, &kmsv1.GetConsistencyProofRequest{FirstSize: int64(heads[0].Head.Size), SecondSize: int64(heads[len(heads)-1].Head.Size)})
	if err != nil {
		t.Fatal(err)
	}
	if err := audit.VerifyConsistency(int64(heads[0].Head.Size), int64(heads[len(heads)-1].Head.Size),
		heads[0].Head.Root, heads[len(heads)-1].Head.Root, toHashes(c.GetProof())); err != nil {
		t.Fatal(err)
	}
	// A record altered in the copy is caught.
	recs[2] = bytes.Replace(recs[2], []byte(`"Encrypt"`), []byte(`"Decrypt"`), 1)
	var te *audit.TamperError
	if err := audit.VerifyLog(recs[:heads[len(heads)-1].Head.Size], heads, pub); !errors.As(err, &te) {
		t.Fatalf("tampered copy: %v", err)
	}
}

func (h *harness) allHeads(t *testing.T) []audit.SignedTreeHead {
	t.Helper()
	resp, err := h.audit.GetSignedTreeHeads(context.Background(), &kmsv1.GetSignedTreeHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.SignedTreeHead
	for _, p := range resp.GetHeads() {
		out = append(out, signedHead(t, p))
	}
	return out
}

func signedHead(t *testing.T, p *kmsv1.SignedTreeHead) audit.SignedTreeHead {
	t.Helper()
	th, err := audit.ParseTreeHead(p.GetHead())
	if err != nil {
		t.Fatal(err)
	}
	var id audit.KeyID
	copy(id[:], p.GetKeyId())
	return audit.SignedTreeHead{Head: th, KeyID: id, Signature: p.GetSignature()}
}

func toHashes(bs [][]byte) []audit.Hash {
	out := make([]audit.Hash, len(bs))
	for i, b := range bs {
		copy(out[i][:], b)
	}
	return out
}

// A head covers at most maxHeadLeaves records and carries their leaf
// hashes, so a record altered in the store afterwards is named exactly.
func TestHeadsCarryLeafHashes(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	n := 2*maxHeadLeaves + 100
	for lo := 0; lo < n; lo += 1000 {
		var recs, macs [][]byte
		var ids []string
		for i := lo; i < min(lo+1000, n); i++ {
			e := &audit.Event{EventVersion: audit.EventVersion, EventName: "Synthetic", EventID: fmt.Sprintf("e-%d", i)}
			rec, err := e.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			recs, ids, macs = append(recs, rec), append(ids, e.EventID), append(macs, h.srv.recordMAC(audit.LeafHash(rec)))
		}
		if _, err := h.prop.AppendAudit(ctx, recs, ids, macs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
		t.Fatal(err)
	}
	resp, err := h.audit.GetSignedTreeHeads(ctx, &kmsv1.GetSignedTreeHeadsRequest{IncludeLeafHashes: true})
	if err != nil {
		t.Fatal(err)
	}
	var heads []audit.SignedTreeHead
	for _, p := range resp.GetHeads() {
		sth := signedHead(t, p)
		sth.Leaves = toHashes(p.GetLeafHashes())
		if len(sth.Leaves) != int(sth.Head.Size-sth.Head.PrevSize) || len(sth.Leaves) > maxHeadLeaves {
			t.Fatalf("head of size %d after %d carries %d leaves", sth.Head.Size, sth.Head.PrevSize, len(sth.Leaves))
		}
		heads = append(heads, sth)
	}
	if len(heads) != 3 || heads[2].Head.Size != uint64(n) {
		t.Fatalf("%d heads, last of size %d", len(heads), heads[len(heads)-1].Head.Size)
	}
	if _, err := h.audit.GetSignedTreeHeads(ctx, &kmsv1.GetSignedTreeHeadsRequest{IncludeLeafHashes: true, MaxResults: 11}); ExceptionName(err) != excValidation {
		t.Fatalf("11 heads with leaves: %v", err)
	}
	pk, err := h.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	recs := h.allRecords(t)[:n]
	if err := audit.VerifyLog(recs, heads, pk.GetPublicKey()); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []int{5, maxHeadLeaves + 7, n - 1} {
		altered := append([][]byte{}, recs...)
		altered[bad] = bytes.Replace(altered[bad], []byte("Synthetic"), []byte("Synthetix"), 1)
		var te *audit.TamperError
		if err := audit.VerifyLog(altered, heads, pk.GetPublicKey()); !errors.As(err, &te) || te.Index != int64(bad) {
			t.Errorf("record %d altered: %v", bad, err)
		}
	}
}

// A record written to the log without kmsd's MAC (behind its back) is
// never signed: the leader signs up to it and refuses to go further, and
// verification reports it as not covered by any signed head.
func TestForgedRecordIsNeverSigned(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.createKey(t)
	forged := []byte(`{"eventVersion":"1.11","eventName":"Forged"}`)
	pos, err := h.prop.AppendAudit(ctx, [][]byte{forged}, []string{"forged"}, [][]byte{make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{})
	wantException(t, err, excInvalidState)
	heads := h.allHeads(t)
	if len(heads) != 1 || heads[0].Head.Size != pos {
		t.Fatalf("heads %+v: want one head that stops at the forged record %d", heads, pos)
	}
	pk, _ := h.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	var te *audit.TamperError
	if err := audit.VerifyLog(h.allRecords(t), heads, pk.GetPublicKey()); !errors.As(err, &te) || te.Index != int64(pos) {
		t.Fatalf("verify: %v, want the forged record %d named", err, pos)
	}
}
