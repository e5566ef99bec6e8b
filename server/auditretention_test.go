package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Records older than the retention period are archived to export files
// that verify on their own, then removed; the log left still verifies, and
// a node that reopens the store rebuilds the same tree.
func TestAuditRetention(t *testing.T) {
	archive := t.TempDir()
	h := newHarnessTB(t, func(c *Config) { c.AuditRetention = 24 * time.Hour; c.AuditArchiveDir = archive })
	ctx := context.Background()
	md := h.createKey(t)
	burst := func(n int) {
		for range n {
			if _, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: md.GetKeyId(), Plaintext: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := h.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	burst(5)
	h.clock.Advance(time.Hour)
	burst(5)
	h.clock.Advance(30 * time.Hour)
	burst(5)
	heads := h.allHeadsWithLeaves(t)
	if len(heads) != 3 {
		t.Fatalf("%d heads", len(heads))
	}
	pk, err := h.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	rootBefore, _ := h.srv.audit.Root(int64(heads[2].Head.Size))

	h.srv.pruneDue(ctx, h.clock.Now())

	// The first two intervals are older than a day; the third is not.
	if got := h.store.LogPruned(); got != heads[1].Head.Size {
		t.Fatalf("pruned up to %d, want %d", got, heads[1].Head.Size)
	}
	files, _ := filepath.Glob(filepath.Join(archive, "audit-*.json"))
	if len(files) != 2 {
		t.Fatalf("archives %v", files)
	}
	starts := []int64{0, int64(heads[0].Head.Size)}
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if info, _ := os.Stat(f); info.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v", f, info.Mode().Perm())
		}
		e, err := audit.VerifyExport(bytes.NewReader(b), pk.GetPublicKey())
		if err != nil || e.FirstIndex != starts[i] || e.FirstIndex+int64(len(e.Records)) != int64(heads[i].Head.Size) {
			t.Fatalf("archive %s: %v (first %d, %d records)", f, err, e.FirstIndex, len(e.Records))
		}
	}
	// What is left still verifies, from the first record held.
	resp, err := h.audit.GetEvents(ctx, &kmsv1.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first := resp.GetFirstIndex()
	if first != int64(heads[1].Head.Size) || resp.GetEvents()[0].GetIndex() != first {
		t.Fatalf("GetEvents starts at %d (first index %d)", resp.GetEvents()[0].GetIndex(), first)
	}
	var rest [][]byte
	for _, e := range resp.GetEvents() {
		if e.GetIndex() < int64(heads[2].Head.Size) {
			rest = append(rest, e.GetRecord())
		}
	}
	if err := audit.VerifyLogFrom(first, rest, heads, pk.GetPublicKey()); err != nil {
		t.Fatal(err)
	}
	// Lookups see only what is held; a removed record cannot be proved here.
	look, err := h.audit.LookupEvents(ctx, &kmsv1.LookupEventsRequest{EventName: "CreateKey"})
	if err != nil || len(look.GetEvents()) != 0 {
		t.Fatalf("CreateKey record still found: %v", err)
	}
	_, err = h.audit.GetInclusionProof(ctx, &kmsv1.GetInclusionProofRequest{Index: 1})
	wantException(t, err, excNotFound)
	// A second run removes nothing more; a reopened log has the same tree.
	h.srv.pruneDue(ctx, h.clock.Now())
	if h.store.LogPruned() != heads[1].Head.Size {
		t.Fatal("pruned again")
	}
	reopened, err := OpenAuditLog(h.store)
	if err != nil {
		t.Fatal(err)
	}
	if root, err := reopened.Root(int64(heads[2].Head.Size)); err != nil || root != rootBefore {
		t.Fatalf("rebuilt tree differs: %v", err)
	}
}

func (h *harness) allHeadsWithLeaves(t *testing.T) []audit.SignedTreeHead {
	t.Helper()
	var out []audit.SignedTreeHead
	for {
		resp, err := h.audit.GetSignedTreeHeads(context.Background(), &kmsv1.GetSignedTreeHeadsRequest{
			StartIndex: int64(len(out)), IncludeLeafHashes: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.GetHeads() {
			sth := signedHead(t, p)
			sth.Leaves = toHashes(p.GetLeafHashes())
			out = append(out, sth)
		}
		if len(resp.GetHeads()) == 0 || int64(len(out)) >= resp.GetCount() {
			return out
		}
	}
}

func TestAuditRetentionNeedsArchive(t *testing.T) {
	h := newHarness(t)
	_, err := New(Config{Store: h.store, Proposer: h.prop, DisableAudit: true, AuditRetention: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "AuditArchiveDir") {
		t.Fatalf("retention without an archive directory: %v", err)
	}
}
