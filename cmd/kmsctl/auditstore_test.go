package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditTamperedStore: kmsd serves a log whose store was tampered with.
// The live check, an export and the check of that export each exit 1 and
// name exactly the first record that cannot be trusted, with the leaf
// hashes kmsd keeps with its heads; a removed record or head is named as
// such.
func TestAuditTamperedStore(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(f *fakeAudit)
		live   []string // in the stderr of verify and export
		file   []string // in the stderr of verify --file
	}{
		{"edited", func(f *fakeAudit) {
			f.tampered[5] = bytes.Replace(f.records[5], []byte("Encrypt"), []byte("Decrypt"), 1)
		}, []string{"log tampered at record 5: head 1 (size 8): record 5 differs from the signed tree"},
			[]string{"log tampered at record 5: head 1 (size 8): record 5 differs from the signed tree"}},
		{"removed", func(f *fakeAudit) { f.tampered[6] = []byte{} },
			[]string{"log tampered at record 6: head 1 (size 8): record 6 differs", "kmsd served record 6 empty: it was removed from its store"},
			[]string{"log tampered at record 6: head 1 (size 8): record 6 differs", "the export holds a placeholder for record 6"}},
		{"swapped", func(f *fakeAudit) { f.tampered[2], f.tampered[3] = f.records[3], f.records[2] },
			[]string{"log tampered at record 2: head 0 (size 4): record 2 differs"},
			[]string{"log tampered at record 2: head 0 (size 4): record 2 differs"}},
		{"not JSON", func(f *fakeAudit) { f.tampered[9] = []byte("\x00garbage") },
			[]string{"log tampered at record 9: head 2 (size 10): record 9 differs"},
			[]string{"log tampered at record 9: head 2 (size 10): record 9 differs", "placeholder for record 9"}},
		{"head removed", func(f *fakeAudit) { f.sign(); f.badHeads[1] = true },
			[]string{"log tampered at record 4: kmsd served signed tree head 1 empty or unreadable"},
			[]string{"log tampered at record 4: head 1: chain broken"}},
		{"newest head removed", func(f *fakeAudit) { f.badHeads[1] = true },
			[]string{"log tampered at record 4: kmsd served signed tree head 1 empty or unreadable"},
			[]string{"log tampered at record 4: 6 records past the last signed tree head"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, addr := startFake(t)
			pub := pubB64(f)
			f.audit.mu.Lock()
			c.tamper(f.audit)
			f.audit.mu.Unlock()
			file := filepath.Join(t.TempDir(), "export.json")
			for _, args := range [][]string{
				{"audit", "verify", "--public-key", pub},
				{"audit", "export", "--outfile", file, "--public-key", pub},
				{"audit", "verify", "--file", file, "--public-key", pub},
			} {
				want := c.live
				if args[2] == "--file" {
					want = c.file
				}
				out, errb, code := ctl(t, addr, "", args...)
				if code != exitUnverified || out != "" {
					t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1", args, code, out, errb)
				}
				for _, w := range want {
					if !strings.Contains(errb, w) {
						t.Errorf("%q: stderr %q; want %q", args, errb, w)
					}
				}
			}
		})
	}
}

// TestAuditVerifyPruned: a log whose first records kmsd removed by
// retention verifies live and as an export, through the leaf hashes of the
// heads that cover the removed records.
func TestAuditVerifyPruned(t *testing.T) {
	f, addr := startFake(t)
	pub := pubB64(f)
	f.audit.mu.Lock()
	f.audit.pruned = 4
	f.audit.mu.Unlock()
	file := filepath.Join(t.TempDir(), "export.json")
	for _, args := range [][]string{
		{"audit", "verify", "--public-key", pub},
		{"audit", "export", "--outfile", file, "--public-key", pub},
		{"audit", "verify", "--file", file, "--public-key", pub},
	} {
		out, errb, code := ctl(t, addr, "", args...)
		var sum logSummary
		if err := json.Unmarshal([]byte(out), &sum); code != 0 || err != nil || !sum.Verified ||
			sum.FirstIndex != 4 || sum.RecordCount != fakeAuditRecords-4 || sum.TreeSize != fakeAuditRecords {
			t.Errorf("%q: exit %d, stdout %s, stderr %q", args, code, out, errb)
		}
	}
}
