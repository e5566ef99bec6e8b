package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
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
		tamper func(t *testing.T, txn *badger.Txn, l *signed) uint64
		extra  string // also in the message of the live check
	}{
		{"altered", func(t *testing.T, txn *badger.Txn, l *signed) uint64 {
			setRecord(t, txn, l.n, bytes.Replace(getRecord(t, txn, l.n), []byte(`"eventName":"Encrypt"`), []byte(`"eventName":"Decrypt"`), 1))
			return l.n
		}, ""},
		{"removed", func(t *testing.T, txn *badger.Txn, l *signed) uint64 {
			if err := txn.Delete(recordKey(l.n)); err != nil {
				t.Fatal(err)
			}
			return l.n
		}, "served record %d empty: it was removed from its store"},
		{"swapped", func(t *testing.T, txn *badger.Txn, l *signed) uint64 {
			a, b := getRecord(t, txn, l.n), getRecord(t, txn, l.n+1)
			setRecord(t, txn, l.n, b)
			setRecord(t, txn, l.n+1, a)
			return l.n
		}, ""},
		{"inserted", func(t *testing.T, txn *badger.Txn, l *signed) uint64 {
			forged := bytes.Replace(getRecord(t, txn, l.n), []byte(`"eventName":"Encrypt"`), []byte(`"eventName":"Decrypt"`), 1)
			for i := logSize(txn); i > l.n; i-- {
				setRecord(t, txn, i, getRecord(t, txn, i-1))
			}
			setRecord(t, txn, l.n, forged)
			return l.n
		}, ""},
		// A record added after the last signed head while kmsd was stopped
		// lacks the MAC kmsd stores with each record it writes, so kmsd
		// signs no head over it.
		{"appended", func(t *testing.T, txn *badger.Txn, l *signed) uint64 {
			forged := bytes.Replace(getRecord(t, txn, l.n), []byte(`"eventName":"Encrypt"`), []byte(`"eventName":"Decrypt"`), 1)
			end := logSize(txn)
			setRecord(t, txn, end, forged)
			return end
		}, ""},
		{"head removed", func(t *testing.T, txn *badger.Txn, l *signed) uint64 {
			if err := txn.Delete(binary.BigEndian.AppendUint64([]byte("lh/"), 1)); err != nil {
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
			editStore(t, filepath.Join(d.dataDir, "state"), func(txn *badger.Txn) { n = c.tamper(t, txn, l) })
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

// editStore opens kmsd's Badger store at dir and runs edit in one
// transaction.
func editStore(t *testing.T, dir string, edit func(txn *badger.Txn)) {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(txn *badger.Txn) error {
		edit(txn)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// recordKey is the store's key of the audit record at position n.
func recordKey(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte("l/"), n)
}

func getRecord(t *testing.T, txn *badger.Txn, n uint64) []byte {
	t.Helper()
	item, err := txn.Get(recordKey(n))
	if err != nil {
		t.Fatalf("record %d: %v", n, err)
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func setRecord(t *testing.T, txn *badger.Txn, n uint64, rec []byte) {
	t.Helper()
	if err := txn.Set(recordKey(n), rec); err != nil {
		t.Fatal(err)
	}
}

// logSize returns one past the position of the last audit record.
func logSize(txn *badger.Txn) uint64 {
	opts := badger.DefaultIteratorOptions
	opts.Prefix, opts.Reverse, opts.PrefetchValues = []byte("l/"), true, false
	it := txn.NewIterator(opts)
	defer it.Close()
	for it.Seek(recordKey(^uint64(0))); it.Valid(); it.Next() {
		if k := it.Item().Key(); len(k) == len("l/")+8 {
			return binary.BigEndian.Uint64(k[len("l/"):]) + 1
		}
	}
	return 0
}
