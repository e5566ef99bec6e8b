package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestAuditStoreTampering edits kmsd's store while kmsd is stopped, after
// it signed heads over the records: a record is altered, removed, swapped
// with the next, or a forged one inserted, or a signed head is removed.
// After a restart, kmsctl audit verify of the live log, audit export, and
// audit verify of that export each exit 1 and name exactly the first
// record touched (for the head, the first record it covered), checked with
// the public key saved before the tampering.
func TestAuditStoreTampering(t *testing.T) {
	for _, c := range []struct {
		name string
		// tamper edits the store and returns the record to be named.
		tamper func(t *testing.T, e *storeEdit, l *signed) uint64
		extra  string // also in the message of the live check
	}{
		{"altered", func(t *testing.T, e *storeEdit, l *signed) uint64 {
			e.set(l.n, bytes.Replace(e.get(t, l.n), []byte(`"eventName":"Encrypt"`), []byte(`"eventName":"Decrypt"`), 1))
			return l.n
		}, ""},
		{"removed", func(t *testing.T, e *storeEdit, l *signed) uint64 {
			e.remove(l.n)
			return l.n
		}, "served record %d empty: it was removed from its store"},
		{"swapped", func(t *testing.T, e *storeEdit, l *signed) uint64 {
			a, b := e.get(t, l.n), e.get(t, l.n+1)
			e.set(l.n, b)
			e.set(l.n+1, a)
			return l.n
		}, ""},
		{"inserted", func(t *testing.T, e *storeEdit, l *signed) uint64 {
			forged := bytes.Replace(e.get(t, l.n), []byte(`"eventName":"Encrypt"`), []byte(`"eventName":"Decrypt"`), 1)
			for i := e.size(); i > l.n; i-- {
				e.set(i, e.get(t, i-1))
			}
			e.set(l.n, forged)
			return l.n
		}, ""},
		// A record added after the last signed head while kmsd was stopped
		// lacks the MAC kmsd stores with each record it writes, so kmsd
		// signs no head over it.
		{"appended", func(t *testing.T, e *storeEdit, l *signed) uint64 {
			forged := bytes.Replace(e.get(t, l.n), []byte(`"eventName":"Encrypt"`), []byte(`"eventName":"Decrypt"`), 1)
			end := e.size()
			e.set(end, forged)
			return end
		}, ""},
		{"head removed", func(t *testing.T, e *storeEdit, l *signed) uint64 {
			if err := e.txn.Delete(binary.BigEndian.AppendUint64([]byte("lh/"), 1)); err != nil {
				t.Fatal(err)
			}
			return l.headSizes[0]
		}, "served signed tree head 1 empty or unreadable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			l := signedLog(t)
			d := l.d
			d.stop()
			var n uint64
			editStore(t, filepath.Join(d.dataDir, "state"), func(e *storeEdit) { n = c.tamper(t, e, l) })
			d.start()

			pub := l.pub
			want := fmt.Sprintf("log tampered at record %d:", n)
			export := filepath.Join(t.TempDir(), "audit.json")
			for _, args := range [][]string{
				{"audit", "verify", "--public-key", pub},
				{"audit", "export", "--outfile", export, "--public-key", pub},
				{"audit", "verify", "--file", export, "--public-key", pub},
			} {
				r := d.ctl(nil, args...)
				if r.code != 1 || !strings.Contains(r.stderr, want) {
					t.Errorf("kmsctl %s: exit %d, stderr %q; want 1 and %q", strings.Join(args, " "), r.code, r.stderr, want)
				}
				if extra := strings.ReplaceAll(c.extra, "%d", fmt.Sprint(n)); args[2] != "--file" && !strings.Contains(r.stderr, extra) {
					t.Errorf("kmsctl %s: stderr %q; want %q", strings.Join(args, " "), r.stderr, extra)
				}
			}
		})
	}
}

// signed is a daemon whose audit log holds some records under signed heads.
type signed struct {
	d         *daemon
	pub       string   // the audit public key
	n         uint64   // the position of the second Encrypt record
	headSizes []uint64 // the size of each signed head
}

// signedLog starts kmsd, writes some records (a key and three Encrypt
// calls), and checks the log three times with audit verify, which has kmsd
// sign a head over the records each time (the checks add records).
func signedLog(t *testing.T) *signed {
	d := startDaemon(t)
	keyID := str(d.ok("create-key", "--description", "tamper"), "KeyMetadata.KeyId")
	for range 3 {
		d.ok("encrypt", "--key-id", keyID, "--plaintext", "aGVsbG8=")
	}
	r := d.ctl(nil, "audit", "public-key", "--query", "PublicKey", "--output", "text")
	if r.code != 0 {
		t.Fatalf("audit public-key: exit %d: %s", r.code, r.stderr)
	}
	l := &signed{d: d, pub: strings.TrimSpace(r.stdout)}
	for range 3 {
		if sum := d.ok("audit", "verify", "--public-key", l.pub); sum["Verified"] != true {
			t.Fatalf("audit verify before tampering: %v", sum)
		}
	}
	heads, err := d.auditClient().GetSignedTreeHeads(context.Background(), &kmsv1.GetSignedTreeHeadsRequest{})
	if err != nil || len(heads.GetHeads()) < 3 {
		t.Fatalf("signed heads: %v, %v", heads, err)
	}
	for _, h := range heads.GetHeads() {
		l.headSizes = append(l.headSizes, uint64(h.GetTreeSize()))
	}
	seen := 0
	for _, e := range d.auditRecords() {
		if bytes.Contains(e.GetRecord(), []byte(`"eventName":"Encrypt"`)) {
			if seen++; seen == 2 {
				l.n = uint64(e.GetIndex())
				return l
			}
		}
	}
	t.Fatal("no second Encrypt record")
	return nil
}

// storeEdit is kmsd's store opened for editing: the Badger database, in a
// transaction, and the audit records, read from their files and written
// back, re-framed, when the edit is done.
type storeEdit struct {
	txn   *badger.Txn
	recs  map[uint64][]byte
	index map[uint64]uint64 // the log entry each record came from
	last  uint64            // the latest entry of any record
}

func (e *storeEdit) get(t *testing.T, n uint64) []byte {
	t.Helper()
	r, ok := e.recs[n]
	if !ok {
		t.Fatalf("no record %d", n)
	}
	return r
}

// set stores rec at position n, as written by the entry of the record
// there, or the latest entry.
func (e *storeEdit) set(n uint64, rec []byte) {
	e.recs[n] = rec
	if _, ok := e.index[n]; !ok {
		e.index[n] = e.last
	}
}

func (e *storeEdit) remove(n uint64) { delete(e.recs, n); delete(e.index, n) }

// size is one past the position of the last record.
func (e *storeEdit) size() uint64 {
	var n uint64
	for p := range e.recs {
		n = max(n, p+1)
	}
	return n
}

// editStore opens kmsd's store at dir and runs edit on it: the Badger
// database in one transaction, and the record files (records/*.rec:
// frames of body length, CRC-32C, then position, entry index and record)
// rewritten as one file with valid checksums, as someone who knows the
// format would.
func editStore(t *testing.T, dir string, edit func(e *storeEdit)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "records", "*.rec"))
	if err != nil || len(files) == 0 {
		t.Fatalf("record files: %v, %v", files, err)
	}
	e := &storeEdit{recs: map[uint64][]byte{}, index: map[uint64]uint64{}}
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for len(b) > 0 {
			n := binary.BigEndian.Uint32(b)
			body := b[8 : 8+n]
			if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(b[4:]) {
				t.Fatalf("%s: bad frame", f)
			}
			pos, index := binary.BigEndian.Uint64(body), binary.BigEndian.Uint64(body[8:])
			e.recs[pos], e.index[pos], e.last = bytes.Clone(body[16:]), index, max(e.last, index)
			b = b[8+n:]
		}
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(txn *badger.Txn) error {
		e.txn = txn
		edit(e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, pos := range slices.Sorted(maps.Keys(e.recs)) {
		body := binary.BigEndian.AppendUint64(nil, pos)
		body = binary.BigEndian.AppendUint64(body, e.index[pos])
		body = append(body, e.recs[pos]...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(body)))
		out = binary.BigEndian.AppendUint32(out, crc32.Checksum(body, castagnoli))
		out = append(out, body...)
	}
	if err := os.WriteFile(files[0], out, 0o600); err != nil {
		t.Fatal(err)
	}
}
