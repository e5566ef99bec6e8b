package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// testProof proves record i of a 20-record log against its last head.
func testProof(t testing.TB, l testLog, i int64) *InclusionProof {
	t.Helper()
	var tree Tree
	for _, e := range l.events {
		tree.Append(LeafHash(e))
	}
	last := l.heads[len(l.heads)-1]
	path, err := tree.InclusionProof(i, int64(last.Head.Size))
	if err != nil {
		t.Fatal(err)
	}
	last.Leaves = nil
	return &InclusionProof{Record: l.events[i], Index: i, AuditPath: path, Head: last, PublicKey: l.pub}
}

func TestInclusionProofRoundTrip(t *testing.T) {
	l := buildLog(t, 20, 7, testKey("log"))
	for i := range int64(20) {
		p := testProof(t, l, i)
		b, err := p.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, append([]byte(`{"Record":`), l.events[i]...)) || !json.Valid(b) {
			t.Fatalf("Test %d: record not embedded byte for byte:\n%s", i, b)
		}
		var pretty bytes.Buffer
		json.Indent(&pretty, b, "", "    ")
		for _, doc := range [][]byte{b, pretty.Bytes()} {
			q, err := ParseInclusionProof(doc)
			if err != nil {
				t.Fatalf("Test %d: %v\n%s", i, err, doc)
			}
			h, err := q.Verify(l.pub)
			if err != nil || h.Size != 20 || !bytes.Equal(q.Record, l.events[i]) || !q.PublicKey.Equal(l.pub) {
				t.Errorf("Test %d: Verify = %+v, %v", i, h, err)
			}
		}
	}
}

func TestInclusionProofRejects(t *testing.T) {
	l := buildLog(t, 20, 7, testKey("log"))
	good := testProof(t, l, 5)
	doc, _ := good.Marshal()
	verifyCases := []struct {
		name  string
		edit  func(p *InclusionProof)
		isErr error
	}{
		{"other record", func(p *InclusionProof) { p.Record = l.events[6] }, ErrInvalidProof},
		{"other index", func(p *InclusionProof) { p.Index = 4 }, ErrInvalidProof},
		{"index past the tree", func(p *InclusionProof) { p.Index = 20 }, ErrInvalidProof},
		{"short path", func(p *InclusionProof) { p.AuditPath = p.AuditPath[1:] }, ErrInvalidProof},
		{"altered path", func(p *InclusionProof) { p.AuditPath[0][0] ^= 1 }, ErrInvalidProof},
		{"head of another size", func(p *InclusionProof) { p.Head = l.heads[1] }, ErrInvalidProof},
		{"bad signature", func(p *InclusionProof) { p.Head.Signature = make([]byte, 64) }, ErrBadSignature},
		{"other key", func(p *InclusionProof) {
			*p = *testProof(t, buildLog(t, 20, 7, testKey("attacker")), 5)
		}, ErrUnknownKey},
	}
	for i, c := range verifyCases {
		p := testProof(t, l, 5)
		c.edit(p)
		if _, err := p.Verify(l.pub); !errors.Is(err, c.isErr) {
			t.Errorf("Test %d (%s): err = %v, want %v", i, c.name, err, c.isErr)
		}
	}
	for i, c := range []string{
		"",
		"{}",
		string(doc) + "{}",
		strings.Replace(string(doc), `"Index":5`, `"Index":5,"Other":1`, 1),
		strings.Replace(string(doc), `"TreeSize":20`, `"TreeSize":21`, 1),
		strings.Replace(string(doc), `"RootHash":"`, `"RootHash":"A`, 1),
		strings.Replace(string(doc), `"KeyId":"`, `"KeyId":"0`, 1),
		strings.Replace(string(doc), `"AuditPath":["`, `"AuditPath":["AAAA","`, 1),
		strings.Replace(string(doc), `"PublicKey":"`, `"PublicKey":"AAAA`, 1),
		`{"Record":[1]` + string(doc[bytes.IndexByte(doc, '}')+1:]),
		string(doc[:len(doc)-10]),
		`{"Record":{"a":"` + strings.Repeat("x", MaxProofSize) + `"}}`,
	} {
		if _, err := ParseInclusionProof([]byte(c)); !errors.Is(err, ErrMalformedExport) && !errors.Is(err, ErrMalformedHead) {
			t.Errorf("Test %d: err = %v, want a malformed proof\n%.200s", i, err, c)
		}
	}
	tooLong := testProof(t, l, 5)
	for range 64 {
		tooLong.AuditPath = append(tooLong.AuditPath, Hash{})
	}
	b, _ := tooLong.Marshal()
	if _, err := ParseInclusionProof(b); !errors.Is(err, ErrMalformedExport) {
		t.Errorf("audit path of 66 hashes: err = %v", err)
	}
}
