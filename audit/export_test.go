package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

func writeExport(t testing.TB, l testLog) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteExport(&buf, l.events, l.heads, l.pub); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExportRoundTrip(t *testing.T) {
	priv := testKey("log")
	for i, c := range []struct {
		n, every int
		leaves   bool
	}{{0, 1, true}, {1, 1, true}, {7, 3, true}, {100, 10, false}, {100, 10, true}, {64, 64, false}} {
		l := buildLog(t, c.n, c.every, priv)
		if c.n == 0 {
			l.heads = nil
		}
		if !c.leaves {
			for h := range l.heads {
				l.heads[h].Leaves = nil
			}
		}
		file := writeExport(t, l)
		records, heads, pub, err := ReadExport(bytes.NewReader(file))
		if err != nil {
			t.Fatalf("Test %d: %v\n%s", i, err, file)
		}
		if !slices.EqualFunc(records, l.events, bytes.Equal) || !pub.Equal(l.pub) || len(heads) != len(l.heads) {
			t.Fatalf("Test %d: read back %d records, %d heads, key %x", i, len(records), len(heads), pub)
		}
		for h, sth := range heads {
			want := l.heads[h]
			if sth.Head != want.Head || sth.KeyID != want.KeyID || !bytes.Equal(sth.Signature, want.Signature) ||
				int64(len(sth.Leaves)) != int64(want.Head.Size-want.Head.PrevSize) {
				t.Errorf("Test %d: head %d read back as %+v, want %+v with every leaf hash", i, h, sth, want)
			}
		}
		exp, err := VerifyExport(bytes.NewReader(file), nil)
		if err != nil || !exp.KeyFromFile || !exp.PublicKey.Equal(l.pub) {
			t.Errorf("Test %d: VerifyExport with the file's key: %v", i, err)
		}
		if exp, err := VerifyExport(bytes.NewReader(file), l.pub); err != nil || exp.KeyFromFile {
			t.Errorf("Test %d: VerifyExport with the caller's key: %v", i, err)
		}
	}
}

// TestExportShape checks what other tools see: a JSON document with a
// top-level Records array of objects, the records byte for byte (no HTML
// escaping), one per line.
func TestExportShape(t *testing.T) {
	l := buildLog(t, 3, 2, testKey("log"))
	file := writeExport(t, l)
	var doc struct {
		Records             []map[string]any
		KmsdSignedTreeHeads []map[string]any `json:"kmsdSignedTreeHeads"`
		KmsdPublicKey       string           `json:"kmsdPublicKey"`
	}
	if err := json.Unmarshal(file, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Records) != 3 || doc.Records[1]["eventName"] != "Encrypt" || len(doc.KmsdSignedTreeHeads) != 2 {
		t.Errorf("export reads as %+v", doc)
	}
	lines := strings.Split(string(file), "\n")
	if lines[0] != `{"Records":[` || lines[1] != string(l.events[0])+"," || lines[3] != string(l.events[2]) {
		t.Errorf("records are not one per line, byte for byte:\n%s", file)
	}
	if !bytes.Contains(file, []byte(`"<&>":"html"`)) {
		t.Errorf("HTML characters were escaped:\n%s", file)
	}
}

// TestExportWhitespace: re-indenting an export keeps it valid (the leaf
// data is the compacted record); any other change to a record does not.
func TestExportWhitespace(t *testing.T) {
	l := buildLog(t, 50, 10, testKey("log"))
	file := writeExport(t, l)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, file, "", "  "); err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyExport(&pretty, l.pub); err != nil {
		t.Errorf("re-indented export: %v", err)
	}
	escaped := bytes.Replace(file, []byte(`"<&>"`), []byte(`"\u003c&>"`), 1)
	_, err := VerifyExport(bytes.NewReader(escaped), l.pub)
	checkTampered(t, "re-escaped string", err, 0)
}

func TestWriteExportRejects(t *testing.T) {
	l := buildLog(t, 2, 2, testKey("log"))
	big := []byte(`{"a":"` + strings.Repeat("x", MaxEventSize) + `"}`)
	badHead := slices.Clone(l.heads)
	badHead[0].Head.PrevSize = badHead[0].Head.Size + 1
	for i, c := range []struct {
		records [][]byte
		heads   []SignedTreeHead
		pub     ed25519.PublicKey
	}{
		{[][]byte{[]byte(`{"a": 1}`)}, nil, l.pub},
		{[][]byte{[]byte(`[1]`)}, nil, l.pub},
		{[][]byte{[]byte(`{"a":1`)}, nil, l.pub},
		{[][]byte{[]byte(`{"a":1}{}`)}, nil, l.pub},
		{[][]byte{nil}, nil, l.pub},
		{[][]byte{big}, nil, l.pub},
		{l.events, badHead, l.pub},
		{l.events, l.heads, l.pub[:31]},
		{l.events, l.heads, nil},
	} {
		if err := WriteExport(io.Discard, c.records, c.heads, c.pub); err == nil {
			t.Errorf("Test %d: WriteExport succeeded", i)
		}
	}
}

// exportFile is an export split into its lines, to edit as an attacker with
// a text editor would.
type exportFile struct {
	records, heads []string
	pub            string
}

func splitExport(t testing.TB, file []byte) exportFile {
	t.Helper()
	s := string(file)
	recs, rest, ok1 := strings.Cut(strings.TrimPrefix(s, "{\"Records\":[\n"), "\n],\n\"kmsdSignedTreeHeads\":[\n")
	heads, pub, ok2 := strings.Cut(rest, "\n],\n")
	if !ok1 || !ok2 {
		t.Fatalf("unexpected layout:\n%s", file)
	}
	return exportFile{strings.Split(recs, ",\n"), strings.Split(heads, ",\n"), pub}
}

func (f exportFile) join() []byte {
	return fmt.Appendf(nil, "{\"Records\":[\n%s\n],\n\"kmsdSignedTreeHeads\":[\n%s\n],\n%s",
		strings.Join(f.records, ",\n"), strings.Join(f.heads, ",\n"), f.pub)
}

func (f exportFile) clone() exportFile {
	return exportFile{slices.Clone(f.records), slices.Clone(f.heads), f.pub}
}

// fileTamperCase edits the i-th trial's export file and says which record
// VerifyExport must name (-1: any).
type fileTamperCase struct {
	name  string
	apply func(t testing.TB, f *exportFile, trial int) int64
}

// pick spreads trials over [0, n) without a random source.
func pick(trial, n int) int { return (trial*7919 + trial/3) % n }

var fileTamperCases = []fileTamperCase{
	{"modify one record", func(t testing.TB, f *exportFile, trial int) int64 {
		i := pick(trial, len(f.records))
		f.records[i] = strings.Replace(f.records[i], `"userAgent":"kmsctl/1.0"`, `"userAgent":"kmsctl/1.1"`, 1)
		return int64(i)
	}},
	{"delete one record", func(t testing.TB, f *exportFile, trial int) int64 {
		i := pick(trial, len(f.records))
		f.records = slices.Delete(f.records, i, i+1)
		return int64(i)
	}},
	{"insert one record", func(t testing.TB, f *exportFile, trial int) int64 {
		i := pick(trial, len(f.records)+1)
		f.records = slices.Insert(f.records, i, string(mustCanonical(t, testEvent(1_000_000+trial))))
		return int64(i)
	}},
	{"reorder two adjacent records", func(t testing.TB, f *exportFile, trial int) int64 {
		i := pick(trial, len(f.records)-1)
		f.records[i], f.records[i+1] = f.records[i+1], f.records[i]
		return int64(i)
	}},
	{"truncate the tail", func(t testing.TB, f *exportFile, trial int) int64 {
		k := pick(trial, len(f.records)-1) + 1
		f.records = f.records[:k]
		return int64(k)
	}},
	{"drop a head", func(t testing.TB, f *exportFile, trial int) int64 {
		j := pick(trial, len(f.heads))
		f.heads = slices.Delete(f.heads, j, j+1)
		return -1
	}},
	{"modify a record and re-sign with a wrong key", func(t testing.TB, f *exportFile, trial int) int64 {
		i := pick(trial, len(f.records))
		f.records[i] = string(mustCanonical(t, testEvent(2_000_000+trial)))
		*f = resignFile(t, *f, testKey("attacker"), true)
		return 0
	}},
}

// resignFile re-signs every head of f over its records with priv and, if
// putKey, puts priv's public key in the file.
func resignFile(t testing.TB, f exportFile, priv ed25519.PrivateKey, putKey bool) exportFile {
	t.Helper()
	records, heads, pub, err := ReadExport(bytes.NewReader(f.join()))
	if err != nil {
		t.Fatal(err)
	}
	l := testLog{events: records, heads: heads, pub: pub}
	resign(t, &l, priv, false)
	if putKey {
		l.pub = priv.Public().(ed25519.PublicKey)
	}
	var buf bytes.Buffer
	if err := WriteExport(&buf, l.events, l.heads, l.pub); err != nil {
		t.Fatal(err)
	}
	return splitExport(t, buf.Bytes())
}

// TestExportFileTampering is TESTPLAN A3 on an export file: each edit is
// detected by VerifyExport with the log's key and, for record edits, the
// first altered record is named. The full 1,000 trials of A3 run on the
// in-memory log in TestVerifyLogDetectsTampering; here each trial also
// writes and parses a file.
func TestExportFileTampering(t *testing.T) {
	trials := 50
	if testing.Short() {
		trials = 10
	}
	l := buildLog(t, 100, 10, testKey("log"))
	base := splitExport(t, writeExport(t, l))
	if len(base.records) != 100 || len(base.heads) != 10 {
		t.Fatalf("split into %d records and %d heads", len(base.records), len(base.heads))
	}
	for _, c := range fileTamperCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for trial := range trials {
				f := base.clone()
				want := c.apply(t, &f, trial)
				_, err := VerifyExport(bytes.NewReader(f.join()), l.pub)
				checkTampered(t, fmt.Sprint("trial ", trial), err, want)
			}
		})
	}
}

// TestExportOwnKey: a file re-signed by an attacker who also replaced
// kmsdPublicKey verifies with its own key (which is why the caller should
// pass the log's key), but not with the log's key; a file re-signed without
// replacing the key fails either way.
func TestExportOwnKey(t *testing.T) {
	l := buildLog(t, 100, 10, testKey("log"))
	base := splitExport(t, writeExport(t, l))
	base.records[42] = string(mustCanonical(t, testEvent(4242)))
	forged := resignFile(t, base, testKey("attacker"), true).join()
	if exp, err := VerifyExport(bytes.NewReader(forged), nil); err != nil || !exp.KeyFromFile {
		t.Errorf("forged file with its own key: %v (a file's own key proves only consistency)", err)
	}
	_, err := VerifyExport(bytes.NewReader(forged), l.pub)
	checkTampered(t, "forged file with the log's key", err, 0)
	halfForged := resignFile(t, base, testKey("attacker"), false).join()
	_, err = VerifyExport(bytes.NewReader(halfForged), nil)
	checkTampered(t, "re-signed file keeping the log's key", err, 0)
}

func TestReadExportRejects(t *testing.T) {
	l := buildLog(t, 3, 2, testKey("log"))
	good := string(writeExport(t, l))
	f := splitExport(t, []byte(good))
	edit := func(g func(f *exportFile)) string {
		c := f.clone()
		g(&c)
		return string(c.join())
	}
	head0 := f.heads[0]
	for i, c := range []string{
		"",
		"[]",
		"{}",
		`{"Records":[]}`,
		`{"Records":[],"kmsdSignedTreeHeads":[]}`,
		good + "{}",
		good + "x",
		strings.Replace(good, `"kmsdPublicKey"`, `"kmsdPublicKey":"",`+`"kmsdPublicKey"`, 1),
		strings.Replace(good, `"kmsdPublicKey"`, `"other":1,"kmsdPublicKey"`, 1),
		strings.Replace(good, `{"Records":[`, `{"Records":null,"x":[`, 1),
		strings.TrimSuffix(good, "}\n"),
		good[:len(good)/2],
		edit(func(f *exportFile) { f.records[1] = "[1]" }),
		edit(func(f *exportFile) { f.records[1] = "null" }),
		edit(func(f *exportFile) { f.records[1] = `{"a":"` + strings.Repeat("x", MaxEventSize) + `"}` }),
		edit(func(f *exportFile) { f.heads[0] = "null" }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"head":"`, `"head":"AAAA`, 1) }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"keyId":"`, `"keyId":"00`, 1) }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"keyId":"`, `"keyId":"zz`, 1) }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"signature":"`, `"signature":"AAAA`, 1) }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"leaves":[`, `"leaves":["AAAA",`, 1) }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"leaves":["`, `"leaves":["!`, 1) }),
		edit(func(f *exportFile) { f.heads[0] = strings.Replace(head0, `"leaves":`, `"extra":1,"leaves":`, 1) }),
		edit(func(f *exportFile) { f.pub = `"kmsdPublicKey":"AAAA"}` }),
		edit(func(f *exportFile) { f.pub = `"kmsdPublicKey":null}` }),
	} {
		_, _, _, err := ReadExport(strings.NewReader(c))
		if !errors.Is(err, ErrMalformedExport) && !errors.Is(err, ErrMalformedHead) {
			t.Errorf("Test %d: err = %v, want a malformed export\n%.300s", i, err, c)
		}
	}
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) { return 0, r.err }

func TestReadExportLimits(t *testing.T) {
	ioErr := errors.New("disk on fire")
	_, _, _, err := ReadExport(io.MultiReader(strings.NewReader(`{"Records":[`), failingReader{ioErr}))
	if !errors.Is(err, ioErr) || errors.Is(err, ErrMalformedExport) {
		t.Errorf("failing reader: err = %v, want the reader's error", err)
	}
	// An endless array of empty records is refused at the size limit.
	endless := io.MultiReader(strings.NewReader(`{"Records":[{}`), repeatReader(",{}"))
	_, err = readExportLimit(endless, 1<<20)
	if !errors.Is(err, ErrMalformedExport) || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("endless export: err = %v", err)
	}
}

// repeatReader yields s forever.
func repeatReader(s string) io.Reader { return &repeater{s: s} }

type repeater struct {
	s   string
	off int
}

func (r *repeater) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.s[r.off]
		r.off = (r.off + 1) % len(r.s)
	}
	return len(p), nil
}

// FuzzReadExport: ReadExport never panics, and what it accepts writes back
// into a file that reads back the same and verifies the same.
func FuzzReadExport(f *testing.F) {
	l := buildLog(f, 5, 2, testKey("log"))
	file := writeExport(f, l)
	f.Add(file)
	var pretty bytes.Buffer
	json.Indent(&pretty, file, "", "\t")
	f.Add(pretty.Bytes())
	f.Add([]byte(`{"Records":[],"kmsdSignedTreeHeads":[],"kmsdPublicKey":"` + strings.Repeat("A", 43) + `="}`))
	f.Add([]byte(`{"Records":[{}],"kmsdSignedTreeHeads":[{"leaves":[]}],"kmsdPublicKey":""}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		records, heads, pub, err := ReadExport(bytes.NewReader(b))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteExport(&buf, records, heads, pub); err != nil {
			t.Fatalf("an export that reads does not write: %v", err)
		}
		records2, heads2, pub2, err := ReadExport(&buf)
		if err != nil {
			t.Fatalf("a written export does not read: %v\n%s", err, buf.Bytes())
		}
		if !slices.EqualFunc(records, records2, bytes.Equal) || !pub.Equal(pub2) || len(heads) != len(heads2) {
			t.Fatalf("round trip changed the export")
		}
		for i := range heads {
			a, b := heads[i], heads2[i]
			if a.Head != b.Head || a.KeyID != b.KeyID || !bytes.Equal(a.Signature, b.Signature) ||
				(len(a.Leaves) > 0 && !slices.Equal(a.Leaves, b.Leaves)) {
				t.Fatalf("round trip changed head %d", i)
			}
		}
		err1, err2 := VerifyLog(records, heads, pub), VerifyLog(records2, heads2, pub)
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("round trip changed the verdict: %v, then %v", err1, err2)
		}
	})
}
