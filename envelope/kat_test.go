package envelope

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// Known-answer vectors freezing the version-1 formats. They were computed
// with an independent implementation (Python's cryptography package: HKDF
// and AESGCM; hashlib and hmac) from the layouts in doc.go, not by this
// package.
const (
	katMaterialID = "2443f399c11ad809afa9db560db328ce120bba0dbf84d5eacc72907c1a8a913a"
	katContext    = "00020007707572706f736500036b6174000674656e616e74000161"
	katBlob       = "01011234abcd12ab34cd56ef1234567890ab2443f399c11ad809afa9db560db328ce120bba0dbf84d5eacc72907c1a8a913a" +
		"6465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a8b8c8d8e8f" +
		"edf4fb2cd65847967320981be649ee608a41568cdfd11488f52cd9ac1e71c6d031"
	// A 32-byte data key, seq(1, 32), sealed with no context: 142 bytes.
	katDataKeyBlob = "01011234abcd12ab34cd56ef1234567890ab2443f399c11ad809afa9db560db328ce120bba0dbf84d5eacc72907c1a8a913a" +
		"969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1" +
		"97f37ac82e844c61776e75ac2e4ccb8792dabd1f4488cba90585ffbf068684b26edb1e15f0c01f38a1c15eb3f1865cc5"
	katWrapped     = "0132333435363738393a3b3c3defcc3b6668c6d51d846bce55d27de622f77d9c2c7e64430257f7a21f5323193d090d8d82bd84aad08756e4acc6783a6a"
	katFingerprint = "bcc52b667eab0324eecc575b67d6dcf3"
	katPlaintext   = "kmsd known answer"
	katKeyID       = "1234abcd-12ab-34cd-56ef-1234567890ab"
)

var katEC = map[string]string{"tenant": "a", "purpose": "kat"}

// seq returns the bytes from, from+1, ..., from+n-1.
func seq(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(from + i)
	}
	return b
}

func mustKey(t testing.TB, b []byte) Key {
	t.Helper()
	k, err := KeyFromBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswerCiphertext(t *testing.T) {
	k := mustKey(t, seq(0, 32))
	if got := k.MaterialID().String(); got != katMaterialID {
		t.Fatalf("material id %s, want %s", got, katMaterialID)
	}
	id, err := ParseKeyID(katKeyID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		rand      []byte // salt || IV
		plaintext []byte
		ec        map[string]string
		blob      string
	}{
		{"message with context", seq(100, 44), []byte(katPlaintext), katEC, katBlob},
		{"data key, no context", seq(150, 44), seq(1, 32), nil, katDataKeyBlob},
	} {
		blob, err := Seal(bytes.NewReader(c.rand), k, id, c.plaintext, c.ec)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := hex.EncodeToString(blob); got != c.blob {
			t.Errorf("%s: Seal =\n%s\nwant\n%s", c.name, got, c.blob)
		}
		pt, err := Open(k, mustHex(t, c.blob), c.ec)
		if err != nil || !bytes.Equal(pt, c.plaintext) {
			t.Errorf("%s: Open(known blob) = %q, %v", c.name, pt, err)
		}
		h, err := ParseHeader(mustHex(t, c.blob))
		if err != nil || h.KeyID != id || h.MaterialID != k.MaterialID() || h.Format != FormatV1 ||
			h.Algorithm != AlgAES256GCMHKDFSHA256 || !bytes.Equal(h.Salt[:], c.rand[:32]) || !bytes.Equal(h.IV[:], c.rand[32:]) {
			t.Errorf("%s: ParseHeader = %+v, %v", c.name, h, err)
		}
	}
	if n := len(katDataKeyBlob) / 2; n != 142 {
		t.Errorf("a 32-byte data key gives %d bytes, want 142", n)
	}
}

func TestKnownAnswerContext(t *testing.T) {
	enc, err := EncodeContext(katEC)
	if err != nil || hex.EncodeToString(enc) != katContext {
		t.Fatalf("EncodeContext = %x, %v; want %s", enc, err, katContext)
	}
	if enc, _ := EncodeContext(nil); len(enc) != 0 {
		t.Fatalf("empty context encodes as %x", enc)
	}
}

func TestKnownAnswerWrap(t *testing.T) {
	root := mustKey(t, seq(200, 32))
	k := mustKey(t, seq(0, 32))
	id, _ := ParseKeyID(katKeyID)
	mid := k.MaterialID()
	aad := append(append([]byte("kmsd/v1/wrap"), id[:]...), mid[:]...)
	w, err := WrapKey(bytes.NewReader(seq(50, 12)), root, k, aad)
	if err != nil || hex.EncodeToString(w) != katWrapped {
		t.Fatalf("WrapKey = %x, %v; want %s", w, err, katWrapped)
	}
	got, err := UnwrapKey(root, mustHex(t, katWrapped), aad)
	if err != nil || !got.Equal(k) {
		t.Fatalf("UnwrapKey(known) failed: %v", err)
	}
	if fp := RootKeyFingerprint(root); fp != katFingerprint {
		t.Fatalf("fingerprint %s, want %s", fp, katFingerprint)
	}
}
