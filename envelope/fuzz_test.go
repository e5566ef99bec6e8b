package envelope

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

// fuzzKey is the fixed key of the fuzz targets.
var fuzzKey = func() Key { k, _ := KeyFromBytes(seq(7, 32)); return k }()

// FuzzParseHeader: the parser never panics, and whatever it accepts has the
// fields at the documented offsets (F1).
func FuzzParseHeader(f *testing.F) {
	f.Add(mustHex(f, katBlob))
	f.Add([]byte{})
	f.Add(make([]byte, Overhead-1))
	f.Add(append([]byte{1, 1}, make([]byte, Overhead)...))
	f.Fuzz(func(t *testing.T, blob []byte) {
		h, err := ParseHeader(blob)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("error %v is not ErrDecrypt", err)
			}
			return
		}
		if len(blob) < Overhead || !bytes.Equal(h.KeyID[:], blob[offKeyID:offMaterialID]) ||
			!bytes.Equal(h.IV[:], blob[offIV:HeaderSize]) || h.Format != FormatV1 {
			t.Fatalf("header %+v does not match the blob", h)
		}
	})
}

// FuzzOpen: Open never panics and accepts nothing that Seal did not make
// under the fixed key (F2). A mutated copy of a valid ciphertext is fed in
// as well as raw input.
func FuzzOpen(f *testing.F) {
	valid, _ := Seal(bytes.NewReader(seq(100, 44)), fuzzKey, KeyID{1}, []byte("fuzz me"), map[string]string{"a": "b"})
	f.Add(valid, uint16(0), byte(0))
	f.Add(valid, uint16(100), byte(1))
	f.Add([]byte{1, 1, 0}, uint16(1), byte(0xff))
	f.Fuzz(func(t *testing.T, blob []byte, pos uint16, xor byte) {
		if len(blob) > 0 {
			blob = bytes.Clone(blob)
			blob[int(pos)%len(blob)] ^= xor
		}
		pt, err := Open(fuzzKey, blob, map[string]string{"a": "b"})
		if err != nil {
			if pt != nil || !errors.Is(err, ErrDecrypt) {
				t.Fatalf("failure returned %q, %v", pt, err)
			}
			return
		}
		if !bytes.Equal(blob, valid) {
			t.Fatalf("forged ciphertext accepted: %x", blob)
		}
	})
}

// FuzzEncodeContext: the encoding round-trips and two different contexts
// never share an encoding (F4).
func FuzzEncodeContext(f *testing.F) {
	f.Add("ab", "c", "a", "bc")
	f.Add("k", "", "k", "v")
	f.Add("x", "1", "y", "2")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		m1 := map[string]string{k1: v1}
		m2 := map[string]string{k1: v1, k2: v2}
		e1, err1 := EncodeContext(m1)
		e2, err2 := EncodeContext(m2)
		if err1 != nil || err2 != nil {
			return
		}
		for _, c := range []struct {
			m map[string]string
			e []byte
		}{{m1, e1}, {m2, e2}} {
			d, err := DecodeContext(c.e)
			if err != nil || !maps.Equal(d, c.m) {
				t.Fatalf("decode(encode(%q)) = %q, %v", c.m, d, err)
			}
		}
		if !maps.Equal(m1, m2) && bytes.Equal(e1, e2) {
			t.Fatalf("%q and %q encode the same", m1, m2)
		}
	})
}

// FuzzDecodeContext: decoding never panics, and what it accepts re-encodes
// to the same bytes (only canonical encodings are accepted).
func FuzzDecodeContext(f *testing.F) {
	f.Add(mustHex(f, katContext))
	f.Add([]byte{0, 1, 0, 1, 'a', 0, 0})
	f.Add([]byte{0, 2, 0, 1, 'b', 0, 0, 0, 1, 'a', 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeContext(b)
		if err != nil {
			return
		}
		e, err := EncodeContext(m)
		if err != nil || !bytes.Equal(e, b) {
			t.Fatalf("accepted %x, which re-encodes as %x (%v)", b, e, err)
		}
	})
}
