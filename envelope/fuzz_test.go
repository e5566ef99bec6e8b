package envelope

import (
	"bytes"
	"errors"
	"maps"
	"testing"
)

// fuzzKey is the fixed key of the fuzz targets.
var fuzzKey = func() Key { k, _ := KeyFromBytes(seq(7, 32)); return k }()

// headerSeeds are valid ciphertexts, all their truncations, and blobs with
// the IV of every Wycheproof vector whose IV is not 96 bits (F1).
func headerSeeds(f *testing.F) [][]byte {
	valid := mustHex(f, katBlob)
	seeds := [][]byte{valid, mustHex(f, katDataKeyBlob), {}, append([]byte{1, 1}, make([]byte, Overhead)...)}
	for n := range len(valid) {
		seeds = append(seeds, valid[:n])
	}
	return append(seeds, otherIVBlobs(f, fuzzKey)...)
}

// FuzzParseHeader: the parser never panics, every error is ErrDecrypt, and
// whatever it accepts serializes back to the bytes it was parsed from (F1).
func FuzzParseHeader(f *testing.F) {
	for _, s := range headerSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, blob []byte) {
		h, err := ParseHeader(blob)
		if err != nil {
			if !errors.Is(err, ErrDecrypt) || h != (Header{}) {
				t.Fatalf("failure returned %+v, %v", h, err)
			}
			return
		}
		if len(blob) < Overhead || !bytes.Equal(headerBytes(h), blob[:HeaderSize]) {
			t.Fatalf("header %+v does not match the blob %x", h, blob)
		}
	})
}

// headerBytes serializes a header in the documented layout.
func headerBytes(h Header) []byte {
	b := []byte{h.Format, h.Algorithm}
	b = append(b, h.KeyID[:]...)
	b = append(b, h.MaterialID[:]...)
	b = append(b, h.Salt[:]...)
	return append(b, h.IV[:]...)
}

// FuzzOpen: Open never panics and accepts nothing that Seal did not make
// under the fixed key (F2). A mutated copy of a valid ciphertext is fed in
// as well as raw input.
func FuzzOpen(f *testing.F) {
	valid, _ := Seal(bytes.NewReader(seq(100, 44)), fuzzKey, KeyID{1}, []byte("fuzz me"), map[string]string{"a": "b"})
	f.Add(valid, uint16(0), byte(0))
	f.Add(valid, uint16(100), byte(1))
	f.Add([]byte{1, 1, 0}, uint16(1), byte(0xff))
	for _, s := range headerSeeds(f) {
		f.Add(s, uint16(len(s)/2), byte(0))
	}
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

// FuzzEncodeContext: the encoding round-trips and different contexts never
// share an encoding (F4). Three contexts are compared pairwise: two of one
// pair each and their union, so {"ab":"c"} meets {"a":"bc"}.
func FuzzEncodeContext(f *testing.F) {
	f.Add("ab", "c", "a", "bc")
	f.Add("k", "", "k", "v")
	f.Add("x", "1", "y", "2")
	f.Add("a\x00\x01b", "", "a", "\x00\x01b")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		ms := []map[string]string{{k1: v1}, {k2: v2}, {k1: v1, k2: v2}}
		var encs [][]byte
		for _, m := range ms {
			e, err := EncodeContext(m)
			if err != nil {
				if ValidateContext(m) == nil {
					t.Fatalf("EncodeContext(%q) failed but the context is valid: %v", m, err)
				}
				return
			}
			d, err := DecodeContext(e)
			if err != nil || !maps.Equal(d, m) {
				t.Fatalf("decode(encode(%q)) = %q, %v", m, d, err)
			}
			encs = append(encs, e)
		}
		for i := range ms {
			for j := range i {
				if !maps.Equal(ms[i], ms[j]) && bytes.Equal(encs[i], encs[j]) {
					t.Fatalf("%q and %q both encode as %x", ms[i], ms[j], encs[i])
				}
			}
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
