package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kmsd/kmsd/audit"
)

// check verifies l under pub (audit.VerifyLogFrom). The first unreadable
// head, if any, is reported as tampering at the first record it would have
// covered, once the records before it have checked out against the heads
// before it. Records kmsd served empty, or that an export holds as a
// placeholder, are named as such.
func (l *fetchedLog) check(pub ed25519.PublicKey) error {
	heads, records := l.heads, l.records
	var covered int64
	if l.badHead >= 0 {
		heads = l.heads[:l.badHead]
		if n := len(heads); n > 0 {
			covered = int64(heads[n-1].Head.Size)
		}
		records = records[:min(int64(len(records)), max(0, covered-l.start))]
	}
	if err := audit.VerifyLogFrom(l.start, records, heads, pub); err != nil {
		return explainRecord(err, l.start, records)
	}
	if l.badHead >= 0 {
		return &audit.TamperError{Index: covered, Head: l.badHead, Reason: fmt.Sprintf(
			"kmsd served signed tree head %d empty or unreadable (%v): it was removed or damaged in its store",
			l.badHead, l.badHeadErr)}
	}
	return nil
}

// explainRecord adds to a *audit.TamperError why the record it names could
// not be read, when kmsd served it empty or an export holds a placeholder.
func explainRecord(err error, start int64, records [][]byte) error {
	var te *audit.TamperError
	if !errors.As(err, &te) || te.Index < start || te.Index-start >= int64(len(records)) {
		return err
	}
	switch rec := records[te.Index-start]; {
	case len(rec) == 0:
		return fmt.Errorf("%w; kmsd served record %d empty: it was removed from its store", err, te.Index)
	case bytes.HasPrefix(rec, []byte(`{"`+placeholderMember+`":`)):
		return fmt.Errorf("%w; the export holds a placeholder for record %d: kmsd served it empty or unreadable", err, te.Index)
	}
	return err
}

// placeholderMember names the placeholder an export holds instead of a
// record that kmsd served empty or that is not a compact JSON object.
const placeholderMember = "kmsdUnreadableRecord"

// placeholder is the record written in an export instead of one that an
// export cannot hold as it is.
type placeholder struct {
	Index  int64  `json:"index"`
	Length int    `json:"length"`
	Base64 string `json:"base64,omitempty"` // the bytes served, when they fit
}

// exportable returns records (the first at position start) with every one
// that is not a compact JSON object of at most audit.MaxEventSize bytes
// replaced by {"kmsdUnreadableRecord":{"index":N,"length":L,"base64":"..."}}
// (base64 left out when too long). kmsd never writes such a record, so its
// leaf hash differs from the signed one and verifying the export names it,
// as verifying the live log names the record it replaces.
func exportable(start int64, records [][]byte) [][]byte {
	out, copied := records, false
	for i, rec := range records {
		if exportableRecord(rec) {
			continue
		}
		if !copied {
			out, copied = append([][]byte(nil), records...), true
		}
		p := placeholder{Index: start + int64(i), Length: len(rec)}
		if base64.StdEncoding.EncodedLen(len(rec)) < audit.MaxEventSize-100 {
			p.Base64 = base64.StdEncoding.EncodeToString(rec)
		}
		b, err := json.Marshal(map[string]placeholder{placeholderMember: p})
		if err != nil {
			panic("kmsctl: placeholder does not encode: " + err.Error())
		}
		out[i] = b
	}
	return out
}

// exportableRecord reports whether rec can be written in an export byte
// for byte.
func exportableRecord(rec []byte) bool {
	var buf bytes.Buffer
	if len(rec) == 0 || rec[0] != '{' || len(rec) > audit.MaxEventSize || json.Compact(&buf, rec) != nil {
		return false
	}
	return bytes.Equal(buf.Bytes(), rec)
}
