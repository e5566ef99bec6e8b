package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/kmsd/kmsd/audit"
)

// exampleLog builds a log of n Decrypt records with a head signed every
// `every` records and one at the end.
func exampleLog(priv ed25519.PrivateKey, n, every int) ([][]byte, []audit.SignedTreeHead) {
	var tree audit.Tree
	var records [][]byte
	var heads []audit.SignedTreeHead
	var prev uint64
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		e := &audit.Event{EventVersion: audit.EventVersion, EventTime: audit.Time{Time: start.Add(time.Duration(i) * time.Second)},
			EventSource: audit.EventSource, EventName: "Decrypt", RequestID: fmt.Sprintf("req-%d", i),
			EventID: fmt.Sprintf("evt-%d", i), EventType: audit.EventTypeAPICall, EventCategory: audit.EventCategoryManagement}
		rec, err := e.Canonical()
		if err != nil {
			panic(err)
		}
		records = append(records, rec)
		tree.Append(audit.LeafHash(rec))
		if size := uint64(i + 1); size%uint64(every) == 0 || i == n-1 {
			root, _ := tree.Root(int64(size))
			sth, err := audit.Sign(priv, audit.TreeHead{Size: size, Root: root, Timestamp: start.Add(time.Duration(i) * time.Second), PrevSize: prev})
			if err != nil {
				panic(err)
			}
			heads, prev = append(heads, sth), size
		}
	}
	return records, heads
}

func ExampleVerifyExport() {
	seed := sha256.Sum256([]byte("example"))
	priv := ed25519.NewKeyFromSeed(seed[:])
	pub := priv.Public().(ed25519.PublicKey) // an auditor gets it out of band
	records, heads := exampleLog(priv, 10, 4)

	// The file `kmsctl audit export --outfile` writes.
	var file bytes.Buffer
	if err := audit.WriteExport(&file, records, heads, pub); err != nil {
		panic(err)
	}
	// Someone edits the sixth record (index 5).
	edited := bytes.Replace(file.Bytes(), []byte(`"req-5"`), []byte(`"req-X"`), 1)

	for _, f := range [][]byte{file.Bytes(), edited} {
		exp, err := audit.VerifyExport(bytes.NewReader(f), pub)
		var te *audit.TamperError
		switch {
		case errors.As(err, &te):
			fmt.Printf("first bad record: %d\n", te.Index)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("%d records under %d signed heads: ok\n", len(exp.Records), len(exp.Heads))
		}
	}
	// Output:
	// 10 records under 3 signed heads: ok
	// first bad record: 5
}
