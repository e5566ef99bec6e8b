package envelope

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

type oaepVectors struct {
	TestGroups []struct {
		PrivateKeyPkcs8 string `json:"privateKeyPkcs8"`
		Tests           []struct {
			TcID                   int
			Msg, CT, Label, Result string
		} `json:"tests"`
	} `json:"testGroups"`
}

// oaepCounts counts the vectors of one file by kind.
type oaepCounts struct{ valid, labelled, invalid, material int }

// TestWycheproofRSAOAEP runs the RSA-OAEP vectors, with an empty label,
// through oaepDecrypt, the decryption UnwrapImportedKey uses (C3): valid
// vectors give exactly msg, invalid ones and valid ones made with a
// non-empty label fail. Then it shows the uniform error: UnwrapImportedKey
// returns exactly ErrInvalidWrappedKey for every vector except the valid
// ones with 32 bytes of msg, which it accepts, directly and, for SHA-256, as
// the AES key of an RSA_AES_KEY_WRAP_SHA_256 input.
func TestWycheproofRSAOAEP(t *testing.T) {
	for _, c := range []struct {
		file string
		alg  string
		hash crypto.Hash
		want oaepCounts
	}{
		{"rsa_oaep_2048_sha256_mgf1sha256_test.json", WrapRSAESOAEPSHA256, crypto.SHA256, oaepCounts{10, 8, 19, 1}},
		{"rsa_oaep_3072_sha256_mgf1sha256_test.json", WrapRSAESOAEPSHA256, crypto.SHA256, oaepCounts{10, 8, 19, 1}},
		{"rsa_oaep_4096_sha256_mgf1sha256_test.json", WrapRSAESOAEPSHA256, crypto.SHA256, oaepCounts{10, 8, 19, 1}},
		{"rsa_oaep_2048_sha1_mgf1sha1_test.json", WrapRSAESOAEPSHA1, crypto.SHA1, oaepCounts{10, 7, 19, 1}},
	} {
		var v oaepVectors
		readVectors(t, c.file, &v)
		var got oaepCounts
		for _, g := range v.TestGroups {
			pk, err := x509.ParsePKCS8PrivateKey(mustHex(t, g.PrivateKeyPkcs8))
			if err != nil {
				t.Fatal(err)
			}
			priv := pk.(*rsa.PrivateKey)
			for _, tc := range g.Tests {
				name := fmt.Sprintf("%s tc %d", c.file, tc.TcID)
				ct, msg, label := mustHex(t, tc.CT), mustHex(t, tc.Msg), mustHex(t, tc.Label)
				checkOAEPVector(t, name, priv, c.alg, c.hash, ct, msg, label, tc.Result == "valid", &got)
			}
		}
		t.Logf("%s: %d valid (%d of them 32 bytes) and %d valid with a label, %d invalid",
			c.file, got.valid, got.material, got.labelled, got.invalid)
		if got != c.want {
			t.Errorf("%s: counted %+v, want %+v", c.file, got, c.want)
		}
	}
}

// checkOAEPVector checks one vector and counts it.
func checkOAEPVector(t *testing.T, name string, priv *rsa.PrivateKey, alg string, hash crypto.Hash,
	ct, msg, label []byte, valid bool, n *oaepCounts) {
	t.Helper()
	pt, err := oaepDecrypt(priv, hash, ct)
	k, uerr := UnwrapImportedKey(priv, alg, ct)
	switch {
	case !valid:
		n.invalid++
		if err == nil || pt != nil {
			t.Errorf("%s: invalid vector decrypted", name)
		}
	case len(label) != 0:
		n.labelled++
		if err == nil || pt != nil {
			t.Errorf("%s: vector made with label %x decrypted with none", name, label)
		}
	default:
		n.valid++
		if err != nil || !bytes.Equal(pt, msg) {
			t.Errorf("%s: oaepDecrypt = %x, %v; want %x", name, pt, err, msg)
		}
	}
	if valid && len(label) == 0 && len(msg) == 32 {
		n.material++
		if uerr != nil || !bytes.Equal(k.Bytes(), msg) {
			t.Errorf("%s: 32-byte material not unwrapped: %v", name, uerr)
		}
		if hash == crypto.SHA256 {
			checkKWPAfterVector(t, name, priv, ct, msg)
		}
		return
	}
	if uerr != ErrInvalidWrappedKey {
		t.Errorf("%s: UnwrapImportedKey returned %v, want exactly ErrInvalidWrappedKey", name, uerr)
	}
	if _, kerr := UnwrapImportedKey(priv, WrapRSAAESKeyWrapSHA256, append(bytes.Clone(ct), make([]byte, kwpMaterialSize)...)); kerr != ErrInvalidWrappedKey {
		t.Errorf("%s: as RSA_AES_KEY_WRAP_SHA_256: %v, want exactly ErrInvalidWrappedKey", name, kerr)
	}
}

// checkKWPAfterVector uses the 32 bytes a Wycheproof ciphertext carries as
// the AES key of an RSA_AES_KEY_WRAP_SHA_256 input.
func checkKWPAfterVector(t *testing.T, name string, priv *rsa.PrivateKey, ct, aesKey []byte) {
	t.Helper()
	material := seq(100, 32)
	tail, err := KeyWrapPad(aesKey, material)
	if err != nil {
		t.Fatal(err)
	}
	w := append(bytes.Clone(ct), tail...)
	if k, err := UnwrapImportedKey(priv, WrapRSAAESKeyWrapSHA256, w); err != nil || !bytes.Equal(k.Bytes(), material) {
		t.Errorf("%s: RSA_AES_KEY_WRAP_SHA_256 with the vector's key: %v", name, err)
	}
	w[len(w)-1] ^= 1
	if _, err := UnwrapImportedKey(priv, WrapRSAAESKeyWrapSHA256, w); err != ErrInvalidWrappedKey {
		t.Errorf("%s: tampered AES-KWP part: %v", name, err)
	}
}

// TestWycheproofAESKWP runs the AES-KWP vectors through KeyUnwrapPad and
// KeyWrapPad (C4).
func TestWycheproofAESKWP(t *testing.T) {
	var v struct {
		TestGroups []struct {
			Tests []struct {
				TcID                 int
				Key, Msg, CT, Result string
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readVectors(t, "aes_kwp_test.json", &v)
	valid, invalid := 0, 0
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			key, msg, ct := mustHex(t, tc.Key), mustHex(t, tc.Msg), mustHex(t, tc.CT)
			got, err := KeyUnwrapPad(key, ct)
			if tc.Result == "valid" {
				valid++
				w, werr := KeyWrapPad(key, msg)
				if err != nil || !bytes.Equal(got, msg) || werr != nil || !bytes.Equal(w, ct) {
					t.Errorf("tc %d: unwrap %v, wrap %v", tc.TcID, err, werr)
				}
				continue
			}
			invalid++
			if err != ErrInvalidWrappedKey || got != nil {
				t.Errorf("tc %d: invalid vector accepted (%v)", tc.TcID, err)
			}
		}
	}
	t.Logf("AES-KWP: %d valid, %d invalid", valid, invalid)
	if valid != 77 || invalid != 177 {
		t.Fatalf("%d valid and %d invalid vectors, want 77 and 177", valid, invalid)
	}
}

var (
	wrappingKeysOnce sync.Once
	wrappingKeys     map[string]*rsa.PrivateKey
)

// testWrappingKeys generates one key pair per spec for the whole run.
func testWrappingKeys(t *testing.T) map[string]*rsa.PrivateKey {
	wrappingKeysOnce.Do(func() {
		wrappingKeys = map[string]*rsa.PrivateKey{}
		for spec := range wrappingKeyBits {
			k, err := GenerateWrappingKey(rand.Reader, spec)
			if err != nil {
				panic(err)
			}
			wrappingKeys[spec] = k
		}
	})
	return wrappingKeys
}

func TestImportRoundTrip(t *testing.T) {
	keys := testWrappingKeys(t)
	for spec, priv := range keys {
		if priv.N.BitLen() != wrappingKeyBits[spec] {
			t.Fatalf("%s: %d-bit key", spec, priv.N.BitLen())
		}
		for _, alg := range []string{WrapRSAESOAEPSHA1, WrapRSAESOAEPSHA256, WrapRSAAESKeyWrapSHA256} {
			material := make([]byte, 32)
			rand.Read(material)
			w, err := WrapForImport(rand.Reader, &priv.PublicKey, alg, material)
			if err != nil {
				t.Fatal(err)
			}
			k, err := UnwrapImportedKey(priv, alg, w)
			if err != nil || !bytes.Equal(k.Bytes(), material) {
				t.Fatalf("%s/%s: %v", spec, alg, err)
			}
			for _, pos := range []int{0, len(w) / 2, len(w) - 1} {
				bad := bytes.Clone(w)
				bad[pos] ^= 1
				if _, err := UnwrapImportedKey(priv, alg, bad); err != ErrInvalidWrappedKey {
					t.Errorf("%s/%s: byte %d flipped: %v", spec, alg, pos, err)
				}
			}
			for other, op := range keys {
				if other != spec {
					if _, err := UnwrapImportedKey(op, alg, w); err != ErrInvalidWrappedKey {
						t.Errorf("%s/%s: unwrapped with the %s key: %v", spec, alg, other, err)
					}
				}
			}
			for _, n := range []int{16, 31, 33} {
				odd, _ := WrapForImport(rand.Reader, &priv.PublicKey, alg, make([]byte, n))
				if _, err := UnwrapImportedKey(priv, alg, odd); err != ErrInvalidWrappedKey {
					t.Errorf("%s/%s: %d-byte material: %v", spec, alg, n, err)
				}
			}
		}
		if _, err := UnwrapImportedKey(priv, "RSAES_PKCS1_V1_5", make([]byte, priv.Size())); err != ErrInvalidWrappedKey {
			t.Errorf("unknown algorithm: %v", err)
		}
	}
	if _, err := GenerateWrappingKey(rand.Reader, "RSA_1024"); !errors.Is(err, ErrUnsupportedWrapping) {
		t.Fatalf("RSA_1024: %v", err)
	}
}

func TestImportTokens(t *testing.T) {
	root, _ := newTestKey(t)
	other, _ := newTestKey(t)
	tok := ImportToken{KeyID: KeyID{1, 2}, WrappingKeyID: [16]byte{3, 4}, Algorithm: WrapRSAESOAEPSHA256, Spec: "RSA_3072",
		ValidTo: time.Date(2027, 1, 2, 3, 4, 5, 999, time.UTC)}
	b, err := SealImportToken(rand.Reader, root, tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenImportToken(root, b)
	want := tok
	want.ValidTo = tok.ValidTo.Truncate(time.Second)
	if err != nil || got != want {
		t.Fatalf("OpenImportToken = %+v, %v; want %+v", got, err, want)
	}
	if bytes.Contains(b, []byte(WrapRSAESOAEPSHA256)) {
		t.Fatal("the token is not confidential")
	}
	for i := range b {
		for _, delta := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(b)
			bad[i] ^= delta
			if _, err := OpenImportToken(root, bad); err != ErrInvalidImportToken {
				t.Fatalf("byte %d ^ %#x: %v", i, delta, err)
			}
		}
		if _, err := OpenImportToken(root, b[:i]); err != ErrInvalidImportToken {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
	for _, bad := range [][]byte{nil, append(bytes.Clone(b), 0), make([]byte, 300)} {
		if _, err := OpenImportToken(root, bad); err != ErrInvalidImportToken {
			t.Fatalf("malformed token: %v", err)
		}
	}
	if _, err := OpenImportToken(other, b); err != ErrInvalidImportToken {
		t.Fatalf("token opened under another root key: %v", err)
	}
	foreign, _ := SealImportToken(rand.Reader, other, tok)
	if _, err := OpenImportToken(root, foreign); err != ErrInvalidImportToken {
		t.Fatalf("token sealed under another root key: %v", err)
	}
}

func TestWrapBytes(t *testing.T) {
	root, _ := newTestKey(t)
	other, _ := newTestKey(t)
	secret := bytes.Repeat([]byte("rsa private key "), 100)
	w, err := WrapBytes(rand.Reader, root, secret, []byte("place"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapBytes(root, w, []byte("place")); err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("UnwrapBytes: %v", err)
	}
	for name, f := range map[string]func() ([]byte, error){
		"wrong aad":  func() ([]byte, error) { return UnwrapBytes(root, w, []byte("elsewhere")) },
		"wrong root": func() ([]byte, error) { return UnwrapBytes(other, w, []byte("place")) },
		"truncated":  func() ([]byte, error) { return UnwrapBytes(root, w[:20], []byte("place")) },
	} {
		if _, err := f(); err != ErrDecrypt {
			t.Errorf("%s: %v", name, err)
		}
	}
	k, _ := newTestKey(t)
	wk, _ := WrapKey(rand.Reader, root, k, []byte("place"))
	if _, err := UnwrapBytes(root, wk, []byte("place")); err != ErrDecrypt {
		t.Error("a wrapped key parsed as wrapped bytes")
	}
	if _, err := UnwrapKey(root, w[:WrappedSize], []byte("place")); err != ErrDecrypt {
		t.Error("wrapped bytes parsed as a wrapped key")
	}
	if _, err := WrapBytes(rand.Reader, root, make([]byte, MaxWrapBytes+1), nil); err == nil {
		t.Error("oversized secret wrapped")
	}
}

// FuzzKeyUnwrapPad: never panics, whatever the kek and input; what it
// accepts wraps back to the input.
func FuzzKeyUnwrapPad(f *testing.F) {
	kek := seq(0, 32)
	for _, n := range []int{1, 7, 8, 9, 32, 33} {
		w, _ := KeyWrapPad(kek, seq(9, n))
		f.Add(kek, w)
	}
	f.Add(mustHex(f, katRFC5649KEK), mustHex(f, "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"))
	f.Add(mustHex(f, katRFC5649KEK), mustHex(f, "afbeb0f07dfbf5419200f2ccb50bb24f"))
	f.Add(seq(0, 16), make([]byte, 16))
	f.Add(seq(0, 15), make([]byte, 24))
	f.Fuzz(func(t *testing.T, kek, b []byte) {
		pt, err := KeyUnwrapPad(kek, b)
		if err != nil {
			if err != ErrInvalidWrappedKey || pt != nil {
				t.Fatalf("failure %v with output %x", err, pt)
			}
			return
		}
		if again, err := KeyWrapPad(kek, pt); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("accepted %x, which does not wrap back", b)
		}
	})
}

// FuzzOpenImportToken: never panics and accepts only sealed tokens.
func FuzzOpenImportToken(f *testing.F) {
	root, _ := KeyFromBytes(seq(1, 32))
	tok, _ := SealImportToken(bytes.NewReader(seq(50, 12)), root, ImportToken{Algorithm: WrapRSAESOAEPSHA1, Spec: "RSA_2048"})
	f.Add(tok)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := OpenImportToken(root, b); err == nil && !bytes.Equal(b, tok) {
			t.Fatalf("forged token accepted: %x", b)
		}
	})
}

// BenchmarkUnwrapImportedKey also times the two failures of
// RSA_AES_KEY_WRAP_SHA_256 (bad RSA part, bad AES-KWP part), which should
// cost the same.
func BenchmarkUnwrapImportedKey(b *testing.B) {
	for _, spec := range []string{"RSA_2048", "RSA_4096"} {
		priv, _ := GenerateWrappingKey(rand.Reader, spec)
		for _, alg := range []string{WrapRSAESOAEPSHA256, WrapRSAAESKeyWrapSHA256} {
			w, _ := WrapForImport(rand.Reader, &priv.PublicKey, alg, make([]byte, 32))
			benchUnwrap(b, spec+"/"+alg, priv, alg, w, nil)
		}
		w, _ := WrapForImport(rand.Reader, &priv.PublicKey, WrapRSAAESKeyWrapSHA256, make([]byte, 32))
		badRSA, badKWP := bytes.Clone(w), bytes.Clone(w)
		badRSA[0] ^= 1
		badKWP[len(w)-1] ^= 1
		benchUnwrap(b, spec+"/"+WrapRSAAESKeyWrapSHA256+"/bad-RSA-part", priv, WrapRSAAESKeyWrapSHA256, badRSA, ErrInvalidWrappedKey)
		benchUnwrap(b, spec+"/"+WrapRSAAESKeyWrapSHA256+"/bad-KWP-part", priv, WrapRSAAESKeyWrapSHA256, badKWP, ErrInvalidWrappedKey)
	}
}

func benchUnwrap(b *testing.B, name string, priv *rsa.PrivateKey, alg string, w []byte, want error) {
	b.Run(name, func(b *testing.B) {
		for b.Loop() {
			if _, err := UnwrapImportedKey(priv, alg, w); err != want {
				b.Fatalf("got %v, want %v", err, want)
			}
		}
	})
}

// TestImportFailedRSAStepIsFinal: when the RSA part of an
// RSA_AES_KEY_WRAP_SHA_256 input does not decrypt, the AES-KWP part is
// still unwrapped, under the all-zero key; material wrapped under that key
// must not be accepted.
func TestImportFailedRSAStepIsFinal(t *testing.T) {
	priv := testWrappingKeys(t)["RSA_2048"]
	tail, err := KeyWrapPad(make([]byte, 32), seq(1, 32))
	if err != nil {
		t.Fatal(err)
	}
	for i, head := range [][]byte{make([]byte, priv.Size()), bytes.Repeat([]byte{0xff}, priv.Size()), seq(3, priv.Size())} {
		if _, err := UnwrapImportedKey(priv, WrapRSAAESKeyWrapSHA256, append(head, tail...)); err != ErrInvalidWrappedKey {
			t.Errorf("Test %d: %v", i, err)
		}
	}
}
