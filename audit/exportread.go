package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ReadExport reads an export file written by WriteExport. It reads at most
// MaxExportSize bytes and requires exactly the members Records,
// kmsdSignedTreeHeads and kmsdPublicKey, each once. Records are returned
// with insignificant whitespace removed (json.Compact), which leaves a
// record written by WriteExport byte for byte as it was; see the package
// documentation. It checks the form of the file, not the log: call VerifyLog
// (or use VerifyExport) for that.
//
// Errors wrap ErrMalformedExport (or ErrMalformedHead for a head's signed
// text) when the file is not a well-formed export, and the reader's error
// when reading fails.
//
// An export that starts after position 0 (kmsdFirstIndex, written by
// WriteExportFrom) is refused with ErrMalformedExport: read it with
// ReadExportFile, which reports where it starts.
func ReadExport(r io.Reader) (records [][]byte, heads []SignedTreeHead, pub ed25519.PublicKey, err error) {
	e, err := readExportLimit(r, MaxExportSize)
	if err != nil {
		return nil, nil, nil, err
	}
	if e.FirstIndex != 0 {
		return nil, nil, nil, fmt.Errorf("%w: the export starts at record %d; read it with ReadExportFile", ErrMalformedExport, e.FirstIndex)
	}
	return e.Records, e.Heads, e.PublicKey, nil
}

// ReadExportFile reads an export file as ReadExport does, also one that
// starts after position 0. The returned Export's PublicKey is the file's
// own; nothing is verified.
func ReadExportFile(r io.Reader) (*Export, error) {
	return readExportLimit(r, MaxExportSize)
}

func readExportLimit(r io.Reader, limit int64) (*Export, error) {
	lr := &limitReader{r: r, n: limit}
	dec := json.NewDecoder(lr)
	dec.DisallowUnknownFields()
	e := &Export{KeyFromFile: true}
	if err := readExport(dec, e); err != nil {
		return nil, lr.wrap("export", err, limit)
	}
	return e, nil
}

func readExport(dec *json.Decoder, e *Export) error {
	records, heads, pub := &e.Records, &e.Heads, &e.PublicKey
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if seen[key] {
			return fmt.Errorf("%w: member %q given twice", ErrMalformedExport, key)
		}
		seen[key] = true
		switch key {
		case "Records":
			*records, err = readRecords(dec)
		case "kmsdSignedTreeHeads":
			*heads, err = readHeads(dec)
		case "kmsdFirstIndex":
			if err = dec.Decode(&e.FirstIndex); err == nil && e.FirstIndex <= 0 {
				err = fmt.Errorf("%w: kmsdFirstIndex %d", ErrMalformedExport, e.FirstIndex)
			}
		case "kmsdPublicKey":
			var b []byte
			if err = dec.Decode(&b); err == nil {
				*pub, err = parsePublicKey(b)
			}
		default:
			return fmt.Errorf("%w: unknown member %.40q", ErrMalformedExport, key)
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data", ErrMalformedExport)
	}
	for _, k := range []string{"Records", "kmsdSignedTreeHeads", "kmsdPublicKey"} {
		if !seen[k] {
			return fmt.Errorf("%w: no %s", ErrMalformedExport, k)
		}
	}
	return nil
}

// readRecords reads the Records array one record at a time.
func readRecords(dec *json.Decoder) ([][]byte, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	var records [][]byte
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		rec, err := compactRecord(raw)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", len(records), err)
		}
		records = append(records, rec)
	}
	return records, expectDelim(dec, ']')
}

// compactRecord returns the leaf data of a record embedded in a file.
func compactRecord(raw []byte) ([]byte, error) {
	if err := checkRecord(raw, true); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	json.Compact(&buf, raw) // checked by checkRecord
	return buf.Bytes(), nil
}

func readHeads(dec *json.Decoder) ([]SignedTreeHead, error) {
	if err := expectDelim(dec, '['); err != nil {
		return nil, err
	}
	var heads []SignedTreeHead
	for dec.More() {
		var e exportHead
		if err := dec.Decode(&e); err != nil {
			return nil, err
		}
		sth, err := fromExportHead(e)
		if err != nil {
			return nil, fmt.Errorf("head %d: %w", len(heads), err)
		}
		heads = append(heads, sth)
	}
	return heads, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("%w: found %v where %q was expected", ErrMalformedExport, tok, want)
	}
	return nil
}

// VerifyExport reads an export file and verifies it with VerifyLog. It
// verifies with pub when pub is not nil, and otherwise with the public key
// the file carries (the returned Export says which). A key taken from the
// file itself proves only that the file is internally consistent: whoever
// altered the records could have re-signed every head with a key of their
// own and put that key in the file. To prove that the log is the one kmsd
// signed, pass the log's public key obtained out of band.
//
// It returns the export it read, also when verification fails (with a
// *TamperError), and nil with an error wrapping ErrMalformedExport when the
// file cannot be read.
func VerifyExport(r io.Reader, pub ed25519.PublicKey) (*Export, error) {
	e, err := ReadExportFile(r)
	if err != nil {
		return nil, err
	}
	if pub != nil {
		e.PublicKey, e.KeyFromFile = pub, false
	}
	return e, VerifyLogFrom(e.FirstIndex, e.Records, e.Heads, e.PublicKey)
}
