package audit

import (
	"errors"
	"testing"
	"time"
)

// A checkpoint catches what VerifyLog alone cannot: the tail of a log cut
// off together with the heads that covered it. It also catches a history
// rewritten and re-signed under the same size, and a checkpoint head that
// is no longer in the log; a log that only grew since passes.
func TestCheckCheckpoint(t *testing.T) {
	priv := testKey("log")
	l := buildLog(t, 100, 10, priv) // heads at 10, 20, ..., 100
	cp := l.heads[5]                // 60 records
	b, err := MarshalCheckpoint(cp, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	cp, err = ParseCheckpoint(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyLog(l.events, l.heads, l.pub); err != nil {
		t.Fatal(err)
	}
	if err := CheckCheckpoint(l.heads, cp, l.pub); err != nil {
		t.Fatalf("the log that grew since the checkpoint: %v", err)
	}
	if err := CheckCheckpoint(l.heads[:6], cp, l.pub); err != nil {
		t.Fatalf("the log as it was at the checkpoint: %v", err)
	}

	// Cut after record 40 with the heads covering the rest: VerifyLog
	// cannot tell, the checkpoint can.
	cut := l.clone()
	cut.events, cut.heads = cut.events[:40], cut.heads[:4]
	if err := VerifyLog(cut.events, cut.heads, cut.pub); err != nil {
		t.Fatalf("a cut log should verify on its own (that is the gap): %v", err)
	}
	checkTampered(t, "tail cut", CheckCheckpoint(cut.heads, cp, l.pub), 40)
	checkTampered(t, "everything removed", CheckCheckpoint(nil, cp, l.pub), 0)

	// Records from 45 on rewritten and every head from there re-signed
	// (by someone holding the key): same sizes, other roots.
	rewritten := l.clone()
	for i := 45; i < len(rewritten.events); i++ {
		rewritten.events[i] = mustCanonical(t, testEvent(1000+i))
	}
	var tree Tree
	for _, e := range rewritten.events {
		tree.Append(LeafHash(e))
	}
	for i := 4; i < len(rewritten.heads); i++ {
		h := rewritten.heads[i].Head
		rewritten.heads[i] = signHead(t, priv, &tree, h.PrevSize, h.Size, h.Timestamp)
	}
	if err := VerifyLog(rewritten.events, rewritten.heads, rewritten.pub); err != nil {
		t.Fatalf("the rewritten log is consistent in itself: %v", err)
	}
	checkTampered(t, "rewritten", CheckCheckpoint(rewritten.heads, cp, l.pub), 0)

	// The heads re-signed at other sizes, so that none has the
	// checkpoint's.
	var resized []SignedTreeHead
	var prev uint64
	for _, size := range []uint64{10, 20, 30, 40, 55, 70, 100} {
		resized = append(resized, signHead(t, priv, &tree, prev, size, time.Date(2026, 3, 3, 0, 0, 0, int(size), time.UTC)))
		prev = size
	}
	checkTampered(t, "checkpoint head gone", CheckCheckpoint(resized, cp, l.pub), 0)

	// A checkpoint under another key, or damaged, is the checkpoint's
	// fault.
	other := buildLog(t, 60, 60, testKey("other"))
	if err := CheckCheckpoint(l.heads, other.heads[0], l.pub); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("checkpoint of another key: %v", err)
	}
	bad := cp
	bad.Signature = append([]byte(nil), cp.Signature...)
	bad.Signature[0] ^= 1
	if err := CheckCheckpoint(l.heads, bad, l.pub); !errors.Is(err, ErrBadCheckpoint) {
		t.Fatalf("damaged checkpoint: %v", err)
	}
	for name, in := range map[string]string{
		"not JSON":   "{",
		"no head":    `{"signature":"AA==","keyId":"00"}`,
		"too large":  `{"x":"` + string(make([]byte, MaxCheckpointSize)) + `"}`,
		"bad key id": `{"head":"","signature":"","keyId":"zz"}`,
	} {
		if _, err := ParseCheckpoint([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}
