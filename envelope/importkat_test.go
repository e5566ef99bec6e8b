package envelope

import (
	"bytes"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

// Known answers freezing the import formats, computed with an independent
// implementation (Python's cryptography package: HKDF, AESGCM and
// aes_key_wrap_with_padding) from the layouts in doc.go. The AES-KWP
// answers are also RFC 5649's own examples (section 6).
const (
	katToken = "0132333435363738393a3b3c3da65c0e0595e1c989928b0589ac742358bf0bd1e4c249cf0d07e6fa223316ef7303faf472" +
		"aa43045855470c64895054f0fcb0413dd0d53a2f2c7787bbe4e64b851bc0d3ba03a4ed2b8bc7f58f9e1bd20df1c4023682b0b4e92346"
	katWrappedBytes = "02505152535455565758595a5bf94a4510c43bd7892bd81d04a392f4b09103dd9d4303f34346e585fb9c25fb13258742" +
		"1721d51a814d081ccdf631c81a5c8c"
	katWrappedBytesPlain = "kmsd known answer, variable length"
	katRFC5649KEK        = "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8"
)

// TestKnownAnswerImportToken: root seq(1, 32), IV seq(50, 12).
func TestKnownAnswerImportToken(t *testing.T) {
	root := mustKey(t, seq(1, 32))
	kid, err := ParseKeyID(katKeyID)
	if err != nil {
		t.Fatal(err)
	}
	tok := ImportToken{KeyID: kid, WrappingKeyID: [16]byte(seq(200, 16)), Algorithm: WrapRSAAESKeyWrapSHA256,
		Spec: "RSA_4096", ValidTo: time.Date(2027, 1, 2, 3, 4, 5, 0, time.UTC)}
	b, err := SealImportToken(bytes.NewReader(seq(50, 12)), root, tok)
	if err != nil || hex.EncodeToString(b) != katToken {
		t.Fatalf("SealImportToken = %x, %v; want %s", b, err, katToken)
	}
	got, err := OpenImportToken(root, mustHex(t, katToken))
	if err != nil || got != tok {
		t.Fatalf("OpenImportToken = %+v, %v; want %+v", got, err, tok)
	}
	want, err := hkdf.Key(sha256.New, root.Bytes(), nil, tokenInfo, 32)
	if k := tokenKey(root); err != nil || !bytes.Equal(k[:], want) {
		t.Fatalf("tokenKey = %x, want HKDF-SHA256 %x", k, want)
	}
}

// TestKnownAnswerWrapBytes: root seq(0, 32), IV seq(80, 12), aad "place".
func TestKnownAnswerWrapBytes(t *testing.T) {
	root := mustKey(t, seq(0, 32))
	w, err := WrapBytes(bytes.NewReader(seq(80, 12)), root, []byte(katWrappedBytesPlain), []byte("place"))
	if err != nil || hex.EncodeToString(w) != katWrappedBytes {
		t.Fatalf("WrapBytes = %x, %v; want %s", w, err, katWrappedBytes)
	}
	pt, err := UnwrapBytes(root, mustHex(t, katWrappedBytes), []byte("place"))
	if err != nil || string(pt) != katWrappedBytesPlain {
		t.Fatalf("UnwrapBytes = %q, %v", pt, err)
	}
}

func TestKnownAnswerKeyWrapPad(t *testing.T) {
	for i, c := range []struct{ kek, msg, wrapped string }{
		{katRFC5649KEK, "c37b7e6492584340bed12207808941155068f738", "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
		{katRFC5649KEK, "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
		{hex.EncodeToString(seq(0, 32)), hex.EncodeToString(seq(100, 32)),
			"60ac7eeb2c4b430eaea26762c37533463d5c9cb23f4ef7e51941a15e66825d32ca7b123f22bdc4f4"},
	} {
		kek, msg, wrapped := mustHex(t, c.kek), mustHex(t, c.msg), mustHex(t, c.wrapped)
		if w, err := KeyWrapPad(kek, msg); err != nil || !bytes.Equal(w, wrapped) {
			t.Errorf("Test %d: KeyWrapPad = %x, %v; want %x", i, w, err, wrapped)
		}
		if p, err := KeyUnwrapPad(kek, wrapped); err != nil || !bytes.Equal(p, msg) {
			t.Errorf("Test %d: KeyUnwrapPad = %x, %v; want %x", i, p, err, msg)
		}
	}
}
