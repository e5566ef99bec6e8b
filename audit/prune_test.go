package audit

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"
	"time"
)

// A log whose first records were removed still verifies from the heads'
// leaf hashes, and every kind of tampering is still caught.
func TestVerifyLogFrom(t *testing.T) {
	recs, heads, pub := fuzzLog(t, 24, 5)
	for _, start := range []int64{0, 5, 10, 12, 24} {
		if err := VerifyLogFrom(start, recs[start:], heads, pub); err != nil {
			t.Fatalf("start %d: %v", start, err)
		}
		var buf bytes.Buffer
		if err := WriteExportFrom(&buf, start, recs[start:], heads, pub); err != nil {
			t.Fatal(err)
		}
		e, err := VerifyExport(bytes.NewReader(buf.Bytes()), pub)
		if err != nil || e.FirstIndex != start || len(e.Records) != int(24-start) {
			t.Fatalf("export from %d: %v, %+v", start, err, e)
		}
		if _, _, _, err := ReadExport(bytes.NewReader(buf.Bytes())); (err != nil) != (start > 0) {
			t.Fatalf("ReadExport of an export from %d: %v", start, err)
		}
	}
	const start = 10
	var te *TamperError
	altered := slices.Clone(recs[start:])
	altered[5] = bytes.Replace(altered[5], []byte("Encrypt"), []byte("Decrypt"), 1)
	if err := VerifyLogFrom(start, altered, heads, pub); !errors.As(err, &te) || te.Index != start+5 {
		t.Fatalf("altered record %d: %v", start+5, err)
	}
	if err := VerifyLogFrom(start, recs[start+1:], heads, pub); !errors.As(err, &te) {
		t.Fatalf("first remaining record removed: %v", err)
	}
	// A changed hash of a removed record fails its head.
	forged := slices.Clone(heads)
	forged[1].Leaves = slices.Clone(forged[1].Leaves)
	forged[1].Leaves[2][0] ^= 1
	if err := VerifyLogFrom(start, recs[start:], forged, pub); !errors.As(err, &te) || te.Index > 9 {
		t.Fatalf("forged leaf of a removed record: %v", err)
	}
	// Without the leaf hashes the removed part cannot be vouched for.
	bare := slices.Clone(heads)
	bare[0].Leaves = nil
	if err := VerifyLogFrom(start, recs[start:], bare, pub); !errors.As(err, &te) || te.Index != 0 {
		t.Fatalf("heads without leaves: %v", err)
	}
}

// A signed record copied to another position (which a MAC over the record
// alone cannot prevent) is named at the copy.
func TestVerifyLogRepeatedEventID(t *testing.T) {
	recs, _, _ := fuzzLog(t, 24, 5)
	recs[17] = recs[4]
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	var tree Tree
	for _, r := range recs {
		tree.Append(LeafHash(r))
	}
	root, _ := tree.Root(24)
	sth, err := Sign(priv, TreeHead{Size: 24, Root: root, Timestamp: time.Unix(1e9, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var te *TamperError
	err = VerifyLog(recs, []SignedTreeHead{sth}, priv.Public().(ed25519.PublicKey))
	if !errors.As(err, &te) || te.Index != 17 {
		t.Fatalf("copied record: %v", err)
	}
}
