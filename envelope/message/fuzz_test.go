package message

import (
	"bytes"
	"encoding/hex"
	"io"
	"testing"

	"github.com/kmsd/kmsd/envelope"
)

// fuzzSeeds are valid messages under the known-answer data key and
// damaged copies of them.
func fuzzSeeds(t interface{ Fatal(...any) }) [][]byte {
	var seeds [][]byte
	for _, k := range kats {
		b, err := hex.DecodeString(k.want)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b, b[:len(b)-1], b[:40], append(bytes.Clone(b), 0))
	}
	return append(seeds, nil, []byte("KMSE\x01\x01"), []byte("KMSE\x02\x01"))
}

// FuzzReadMessage feeds arbitrary bytes to the parser and the reader. No
// input may panic; every failure is ErrDecrypt; a header that parses
// re-encodes to exactly the bytes read; and nothing decrypts under the
// known-answer data key but the known answers themselves.
func FuzzReadMessage(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	dk, _ := katInputs()
	valid := map[string]string{}
	for _, k := range kats {
		valid[k.want] = k.plaintext
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		src := bytes.NewReader(data)
		h, err := ReadHeader(src)
		if err != nil {
			if err != envelope.ErrDecrypt {
				t.Fatalf("ReadHeader: %v, want ErrDecrypt", err)
			}
			return
		}
		consumed := len(data) - src.Len()
		re, err := h.encode(&h.commitment)
		if err != nil {
			t.Fatalf("a parsed header does not encode: %v", err)
		}
		if re = append(re, h.tag[:]...); !bytes.Equal(re, data[:consumed]) || h.Size() != consumed {
			t.Fatalf("header read as %x, re-encodes as %x", data[:consumed], re)
		}
		r, err := NewReader(src, h, dk)
		if err != nil {
			if err != envelope.ErrDecrypt {
				t.Fatalf("NewReader: %v, want ErrDecrypt", err)
			}
			return
		}
		pt, err := io.ReadAll(r)
		// Decrypting from a bytes.Buffer (straight from its memory) agrees.
		if pt2, err2 := open(data, dk, false, true); err2 != err || !bytes.Equal(pt, pt2) {
			t.Fatalf("bytes.Buffer source: %v, %x; bytes.Reader: %v, %x", err2, pt2, err, pt)
		}
		want, ok := valid[hex.EncodeToString(data)]
		switch {
		case err == nil && (!ok || string(pt) != want):
			t.Fatalf("forged message decrypted: %x", data)
		case err != nil && err != envelope.ErrDecrypt:
			t.Fatalf("Read: %v, want ErrDecrypt", err)
		case err != nil && ok:
			t.Fatalf("known answer failed: %v", err)
		}
	})
}
