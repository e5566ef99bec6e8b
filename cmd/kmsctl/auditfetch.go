package main

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// maxHeadsPage is the largest page of signed tree heads with their leaf
// hashes kmsd serves; maxEventsPage the largest page of records.
const (
	maxHeadsPage  = 10
	maxEventsPage = 10_000
)

// fetchedLog is the audit log as kmsd served it.
type fetchedLog struct {
	// start is the position of records[0]: the records before it were
	// removed by kmsd's retention policy, and the heads carry their leaf
	// hashes.
	start   int64
	records [][]byte
	// heads are the readable signed tree heads, oldest first, with the
	// leaf hashes of the records each one adds.
	heads []audit.SignedTreeHead
	// badHead is the position of the first head kmsd could not serve
	// readable (damaged or removed from its store), or -1; badHeadErr
	// says what was wrong with it.
	badHead    int
	badHeadErr error
	pub        ed25519.PublicKey
	// signErr is why SignTreeHead failed, if it did: the heads signed
	// before are checked anyway.
	signErr error
}

// fetchLog asks kmsd to sign a head over every record so far, then reads
// every signed head with its leaf hashes and the records up to the last
// one (every record, if a head is unreadable or kmsd would not sign: it
// refuses to sign over a record it did not write, which verification then
// reports as not covered by any signed head).
func fetchLog(ctx context.Context, c *call) (*fetchedLog, error) {
	l := &fetchedLog{badHead: -1}
	if _, err := c.audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
		// An unreadable newest head makes signing fail: look for it.
		l.signErr = &opError{"SignTreeHead", err}
	}
	pk, err := c.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	if err != nil {
		return nil, &opError{"GetPublicKey", err}
	}
	if l.pub, err = serverKey(pk); err != nil {
		return nil, err
	}
	if err := l.fetchHeads(ctx, c); err != nil {
		return nil, err
	}
	var size int64
	if n := len(l.heads); n > 0 {
		size = int64(l.heads[n-1].Head.Size)
	}
	if err := l.fetchRecords(ctx, c, size, l.badHead >= 0 || l.signErr != nil); err != nil {
		return nil, err
	}
	return l, nil
}

// fetchHeads reads every signed head, in pages of maxHeadsPage.
func (l *fetchedLog) fetchHeads(ctx context.Context, c *call) error {
	for seq := 0; ; {
		resp, err := c.audit.GetSignedTreeHeads(ctx, &kmsv1.GetSignedTreeHeadsRequest{
			StartIndex: int64(seq), MaxResults: maxHeadsPage, IncludeLeafHashes: true})
		if err != nil {
			return &opError{"GetSignedTreeHeads", err}
		}
		for _, h := range resp.GetHeads() {
			sth, err := audit.ParseSignedTreeHead(h.GetHead(), h.GetSignature(), h.GetKeyId())
			switch {
			case err != nil && l.badHead < 0:
				l.badHead, l.badHeadErr = seq, err
			case err == nil:
				sth.Leaves = leafHashes(h.GetLeafHashes())
				l.heads = append(l.heads, sth)
			}
			seq++
		}
		if len(resp.GetHeads()) == 0 || int64(seq) >= resp.GetCount() {
			return nil
		}
	}
}

// leafHashes converts the leaf hashes kmsd sent, or returns nil if one is
// not a hash: they are only a hint for naming the altered record, and
// verification does not depend on them.
func leafHashes(bs [][]byte) []audit.Hash {
	hs := make([]audit.Hash, len(bs))
	for i, b := range bs {
		if len(b) != len(audit.Hash{}) {
			return nil
		}
		copy(hs[i][:], b)
	}
	return hs
}

// fetchRecords reads the records from the first one kmsd holds up to
// position size, or up to the end of the log if toEnd.
func (l *fetchedLog) fetchRecords(ctx context.Context, c *call, size int64, toEnd bool) error {
	for first := true; first || l.start+int64(len(l.records)) < size; first = false {
		next := l.start + int64(len(l.records))
		resp, err := c.audit.GetEvents(ctx, &kmsv1.GetEventsRequest{
			StartIndex: next, MaxResults: int32(max(1, min(size-next, maxEventsPage)))})
		if err != nil {
			return &opError{"GetEvents", err}
		}
		if first {
			l.start = resp.GetFirstIndex()
			if toEnd {
				size = max(size, resp.GetTreeSize())
			}
			next = l.start
		}
		if next >= size {
			return nil
		}
		if len(resp.GetEvents()) == 0 {
			return &unverifiedError{fmt.Errorf("kmsd served records up to %d, but its last signed tree head covers %d",
				next, size)}
		}
		for _, e := range resp.GetEvents() {
			if e.GetIndex() != next {
				return &unverifiedError{fmt.Errorf("kmsd served record %d where record %d was expected",
					e.GetIndex(), next)}
			}
			if next < size {
				l.records = append(l.records, e.GetRecord())
			}
			next++
		}
	}
	return nil
}
