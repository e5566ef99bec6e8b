package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func pubB64(f *fake) string { return base64.StdEncoding.EncodeToString(f.audit.pub()) }

// TestAuditLookup: records are embedded as objects byte for byte, filters
// reach the request, pages are followed and --max-items stops exactly.
func TestAuditLookup(t *testing.T) {
	f, addr := startFake(t)
	out, errb, code := ctl(t, addr, "", "audit", "lookup", "--event-name", "Encrypt", "--key-id", "k1",
		"--start-time", "1772366400", "--end-time", "2026-03-02T00:00:00+01:00", "--user-name", "alice",
		"--error-code", "X", "--event-id", "evt-1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	var doc struct {
		Events    []map[string]any
		NextToken *string
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(doc.Events) != 5 || doc.Events[0]["eventID"] != "evt-9" || doc.NextToken != nil {
		t.Errorf("lookup printed %s", out)
	}
	if !strings.Contains(out, `"<&>": "x"`) || !strings.HasPrefix(out, "{\n    \"Events\": [\n        {\n            \"eventVersion\"") {
		t.Errorf("records are not embedded as they are:\n%s", out)
	}
	reqs := f.audit.requests()
	r := reqs[0].(*kmsv1.LookupEventsRequest)
	if r.GetEventName() != "Encrypt" || r.GetKeyId() != "k1" || r.GetUserName() != "alice" || r.GetErrorCode() != "X" ||
		r.GetEventId() != "evt-1" || r.GetStartTime().AsTime() != time.Unix(1772366400, 0).UTC() ||
		r.GetEndTime().AsTime() != time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC) || len(reqs) != 2 {
		t.Errorf("requests %v", reqs)
	}

	for i, c := range []struct {
		args  []string
		ids   string
		next  string
		calls int
	}{
		{[]string{"--query", "Events[].eventID", "--output", "text"}, "evt-9\tevt-8\tevt-7\tevt-6\tevt-5\tevt-4\tevt-3\tevt-2\tevt-1\tevt-0\n", "", 4},
		{[]string{"--max-items", "4", "--query", "Events[].eventID", "--output", "text"}, "evt-9\tevt-8\tevt-7\tevt-6\n", "", 1},
		{[]string{"--max-items", "4", "--query", "NextToken", "--output", "text"}, "6\n", "", 1},
		{[]string{"--max-items", "4", "--page-size", "1", "--query", "Events[].eventID", "--output", "text"}, "evt-9\tevt-8\tevt-7\tevt-6\n", "", 4},
		{[]string{"--starting-token", "2", "--query", "Events[].eventID", "--output", "text"}, "evt-1\tevt-0\n", "", 1},
	} {
		before := len(f.audit.requests())
		out, errb, code := ctl(t, addr, "", append([]string{"audit", "lookup"}, c.args...)...)
		if code != 0 || out != c.ids || len(f.audit.requests())-before != c.calls {
			t.Errorf("Test %d: exit %d, %d calls, printed %q %s", i, code, len(f.audit.requests())-before, out, errb)
		}
	}
}

func TestAuditUsageErrors(t *testing.T) {
	f, addr := startFake(t)
	for i, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"audit", "lookup", "--start-time", "yesterday"}, "--start-time \"yesterday\" is not an RFC 3339 time"},
		{[]string{"audit", "lookup", "--page-size", "0"}, "--page-size must be between 1 and 1000"},
		{[]string{"audit", "lookup", "--max-items", "0"}, "--max-items must be at least 1"},
		{[]string{"audit", "tail", "--start-index", "x"}, "--start-index \"x\" is not a whole number"},
		{[]string{"audit", "export"}, "--outfile is required"},
		{[]string{"audit", "export", "--outfile", "/nonexistent/x.json"}, "/nonexistent is not a directory"},
		{[]string{"audit", "verify", "--file", "/nonexistent/x.json"}, "no such file"},
		{[]string{"audit", "verify", "--public-key", "AAAA"}, "--public-key: not an Ed25519 public key"},
		{[]string{"audit", "verify", "--public-key", "x", "--public-key-file", "y"}, "not both"},
		{[]string{"audit", "prove"}, "give --event-id or --index"},
		{[]string{"audit", "prove", "--event-id", "a", "--index", "1"}, "give --event-id or --index"},
		{[]string{"audit", "prove", "--file", "p.json", "--event-id", "a"}, "--file checks a saved proof"},
		{[]string{"audit", "prove", "--index", "1", "--outfile", "x"}, "--outfile is not supported by audit prove"},
		{[]string{"audit", "lookup", "--bogus"}, "unknown flag --bogus"},
		{[]string{"audit", "bogus"}, "unknown command \"audit bogus\""},
		{[]string{"audit"}, "Usage: kmsctl audit COMMAND"},
	} {
		out, errb, code := ctl(t, addr, "", c.args...)
		if code != exitUsage || out != "" || !strings.Contains(errb, c.msg) {
			t.Errorf("Test %d %q: exit %d, stdout %q, stderr %q, want 252 and %q", i, c.args, code, out, errb, c.msg)
		}
	}
	if n := len(f.audit.requests()); n != 0 {
		t.Errorf("usage errors sent %d requests", n)
	}
}

// TestAuditExportVerify: an export verifies offline and live; an edited
// export and a wrong key each exit 1 naming the record (a tampered store:
// TestAuditTamperedStore).
func TestAuditExportVerify(t *testing.T) {
	f, addr := startFake(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "export.json")
	pub := pubB64(f)
	out, errb, code := ctl(t, addr, "", "audit", "export", "--outfile", file, "--public-key", pub)
	if code != 0 || errb != "" {
		t.Fatalf("export: exit %d: %s", code, errb)
	}
	var sum logSummary
	if err := json.Unmarshal([]byte(out), &sum); err != nil || !sum.Verified || sum.RecordCount != fakeAuditRecords ||
		sum.HeadCount != 3 || sum.TreeSize != fakeAuditRecords || sum.OutFile != file || sum.PublicKeySource != "argument" {
		t.Errorf("export printed %s (%v)", out, err)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("export file: %v, %v", fi.Mode(), err)
	}
	raw, _ := os.ReadFile(file)
	keyFile := filepath.Join(dir, "kmsd.pub")
	os.WriteFile(keyFile, []byte(pub+"\n"), 0o600)
	wrongKey := base64.StdEncoding.EncodeToString(fakeAuditKey("other").Public().(ed25519.PublicKey))
	edited := filepath.Join(dir, "edited.json")
	os.WriteFile(edited, bytes.Replace(raw, []byte(`"req-6"`), []byte(`"req-X"`), 1), 0o600)
	broken := filepath.Join(dir, "broken.json")
	os.WriteFile(broken, raw[:len(raw)/2], 0o600)

	for i, c := range []struct {
		args []string
		code int
		out  string // in stdout (exit 0) or stderr
	}{
		{[]string{"--file", file, "--public-key-file", keyFile}, 0, `"PublicKeySource": "argument"`},
		{[]string{"--file", file}, 0, `"PublicKeySource": "file"`},
		{[]string{"--file", file, "--public-key", wrongKey}, 1, "log tampered at record 0: head 0: audit: tree head signed by an unknown key"},
		{[]string{"--file", edited, "--public-key", pub}, 1, "log tampered at record 6: head 1 (size 8): record 6 differs"},
		{[]string{"--file", broken, "--public-key", pub}, 1, "malformed export"},
		{[]string{"--public-key", pub}, 0, `"RecordCount": 10`},
		{[]string{}, 0, `"PublicKeySource": "server"`},
	} {
		out, errb, code := ctl(t, addr, "", append([]string{"audit", "verify"}, c.args...)...)
		got := out
		if code != 0 {
			got = errb
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Errorf("Test %d %q: exit %d, stdout %q, stderr %q; want %d and %q", i, c.args, code, out, errb, c.code, c.out)
		}
		if usesOwnKey := !strings.Contains(strings.Join(c.args, " "), "--public-key"); usesOwnKey != strings.Contains(errb, "note: verified with the public key from the") {
			t.Errorf("Test %d: note about the key's source: %q", i, errb)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAuditProve: a proof is checked before it is printed, and the printed
// proof checks offline, with its own key or a given one.
func TestAuditProve(t *testing.T) {
	f, addr := startFake(t)
	pub := pubB64(f)
	out, errb, code := ctl(t, addr, "", "audit", "prove", "--event-id", "evt-5", "--public-key", pub)
	if code != 0 || errb != "" {
		t.Fatalf("prove: exit %d: %s", code, errb)
	}
	p, err := audit.ParseInclusionProof([]byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if h, err := p.Verify(f.audit.pub()); err != nil || p.Index != 5 || h.Size != fakeAuditRecords {
		t.Errorf("printed proof: %+v, %v", h, err)
	}
	var doc map[string]any
	json.Unmarshal([]byte(out), &doc)
	for _, k := range []string{"Record", "Index", "TreeSize", "RootHash", "AuditPath", "Head", "Signature", "KeyId", "PublicKey"} {
		if doc[k] == nil {
			t.Errorf("proof has no %s:\n%s", k, out)
		}
	}
	dir := t.TempDir()
	proof := filepath.Join(dir, "proof.json")
	os.WriteFile(proof, []byte(out), 0o600)
	forged := filepath.Join(dir, "forged.json")
	os.WriteFile(forged, []byte(strings.Replace(out, `"req-5"`, `"req-6"`, 1)), 0o600)
	wrongKey := base64.StdEncoding.EncodeToString(fakeAuditKey("other").Public().(ed25519.PublicKey))
	id := audit.KeyIDOf(f.audit.pub())

	for i, c := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--file", proof, "--public-key", pub}, 0, `"EventId": "evt-5"`},
		{[]string{"--file", proof}, 0, `"PublicKeySource": "file"`},
		{[]string{"--file", proof, "--public-key", pub, "--query", "KeyId", "--output", "text"}, 0, hex.EncodeToString(id[:]) + "\n"},
		{[]string{"--file", proof, "--public-key", wrongKey}, 1, "tree head signed by an unknown key"},
		{[]string{"--file", forged, "--public-key", pub}, 1, "inclusion proof does not lead to the root"},
		{[]string{"--index", "3", "--query", "Index"}, 0, "3\n"},
		{[]string{"--event-id", "evt-4", "--public-key", wrongKey}, 1, "unknown key"},
		{[]string{"--event-id", "evt-99"}, 254, "An error occurred (NotFoundException) when calling the GetInclusionProof operation"},
	} {
		out, errb, code := ctl(t, addr, "", append([]string{"audit", "prove"}, c.args...)...)
		got := out
		if code != 0 {
			got = errb
		}
		if code != c.code || !strings.Contains(got, c.out) {
			t.Errorf("Test %d %q: exit %d, stdout %q, stderr %q; want %d and %q", i, c.args, code, out, errb, c.code, c.out)
		}
	}

	// kmsd proves another record than the one asked for.
	f.audit.mu.Lock()
	f.audit.tampered[7] = f.audit.records[6]
	f.audit.mu.Unlock()
	_, errb, code = ctl(t, addr, "", "audit", "prove", "--index", "7", "--public-key", pub)
	if code != exitUnverified || !strings.Contains(errb, "does not lead to the root") {
		t.Errorf("proof of a tampered record: exit %d, %s", code, errb)
	}
}

func TestAuditPublicKey(t *testing.T) {
	f, addr := startFake(t)
	out, errb, code := ctl(t, addr, "", "audit", "public-key", "--output", "text")
	id := audit.KeyIDOf(f.audit.pub())
	if want := pubB64(f) + "\t" + hex.EncodeToString(id[:]) + "\n"; code != 0 || out != want {
		t.Errorf("exit %d, printed %q, want %q (%s)", code, out, want, errb)
	}
}

// TestAuditTail: records from --start-index, one compact record per line,
// byte for byte; an interruption exits 130.
func TestAuditTail(t *testing.T) {
	f, addr := startFake(t)
	out, errb, code := ctl(t, addr, "", "audit", "tail", "--start-index", "7", "--timeout", "1ms")
	want := string(f.audit.records[7]) + "\n" + string(f.audit.records[8]) + "\n" + string(f.audit.records[9]) + "\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, printed %q, want %q (%s)", code, out, want, errb)
	}

	f.audit.mu.Lock()
	f.audit.tailBlocks = true
	f.audit.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{lines: 2, cancel: cancel}
	var stderr bytes.Buffer
	code = run(ctx, []string{"--endpoint", addr, "audit", "tail", "--start-index", "8"}, nil, w, &stderr)
	if code != exitInterrupted || w.buf.String() != string(f.audit.records[8])+"\n"+string(f.audit.records[9])+"\n" {
		t.Errorf("interrupted tail: exit %d, printed %q, %s", code, w.buf.String(), stderr.String())
	}
}

// cancelAfter cancels a context once it has been written `lines` times.
type cancelAfter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	lines  int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lines--; w.lines == 0 {
		w.cancel()
	}
	return w.buf.Write(p)
}

// audit verify --checkpoint keeps the newest head between runs and catches
// a log whose tail was cut off with the heads that covered it, which
// verifies on its own.
func TestAuditVerifyCheckpoint(t *testing.T) {
	ff, addr := startFake(t)
	pub := pubB64(ff)
	f := ff.audit
	cp := filepath.Join(t.TempDir(), "audit.checkpoint")
	verify := func() (logSummary, string, int) {
		t.Helper()
		out, errb, code := ctl(t, addr, "", "audit", "verify", "--public-key", pub, "--checkpoint", cp)
		var sum logSummary
		if code == 0 {
			if err := json.Unmarshal([]byte(out), &sum); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
		}
		return sum, errb, code
	}
	sum, errb, code := verify()
	if code != 0 || sum.Checkpoint != cp || sum.CheckpointTreeSize != nil {
		t.Fatalf("first run: exit %d, %+v, %s", code, sum, errb)
	}
	if fi, err := os.Stat(cp); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file: %v %v", fi, err)
	}
	// The log grows: the checkpoint still holds.
	f.mu.Lock()
	for i := fakeAuditRecords; i < fakeAuditRecords+6; i++ {
		f.append(fakeEvent(i))
	}
	f.sign()
	f.mu.Unlock()
	sum, errb, code = verify()
	if code != 0 || sum.CheckpointTreeSize == nil || *sum.CheckpointTreeSize != fakeAuditRecords || sum.TreeSize != fakeAuditRecords+6 {
		t.Fatalf("after growth: exit %d, %+v, %s", code, sum, errb)
	}
	// Cut after record 8, with the heads covering the rest: the log
	// verifies without the checkpoint, not with it.
	f.mu.Lock()
	f.records = f.records[:8]
	f.tree = audit.Tree{}
	for _, r := range f.records {
		f.tree.Append(audit.LeafHash(r))
	}
	for len(f.heads) > 0 && f.heads[len(f.heads)-1].Head.Size > 8 {
		f.heads = f.heads[:len(f.heads)-1]
	}
	f.mu.Unlock()
	if _, errb, code := ctl(t, addr, "", "audit", "verify", "--public-key", pub); code != 0 {
		t.Fatalf("the cut log should verify on its own (that is the gap): exit %d %s", code, errb)
	}
	_, errb, code = verify()
	if code != 1 || !strings.Contains(errb, "log tampered at record 8") || !strings.Contains(errb, "were removed") {
		t.Fatalf("cut log with the checkpoint: exit %d, %s", code, errb)
	}
	// A checkpoint of another log's key is the file's fault.
	other, err := audit.Sign(fakeAuditKey("other"), audit.TreeHead{Size: 1, Timestamp: fakeAuditStart})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := audit.MarshalCheckpoint(other, fakeAuditStart)
	os.WriteFile(cp, b, 0o600)
	if _, errb, code = verify(); code == 0 || code == 1 || !strings.Contains(errb, "another log or key") {
		t.Fatalf("checkpoint of another key: exit %d, %s", code, errb)
	}
	if _, errb, code := ctl(t, addr, "", "audit", "verify", "--checkpoint", ""); code == 0 || !strings.Contains(errb, "--checkpoint") {
		t.Fatalf("empty --checkpoint: exit %d %s", code, errb)
	}
}
