package envelope

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

func newTestKey(t testing.TB) (Key, KeyID) {
	t.Helper()
	k, err := GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := NewKeyID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k, id
}

// testRand returns a seeded generator and logs the seed for replay.
func testRand(t *testing.T) *mrand.Rand {
	seed := uint64(mrand.Int64())
	t.Logf("seed %d", seed)
	return mrand.New(mrand.NewPCG(seed, 0))
}

func randomContext(r *mrand.Rand) map[string]string {
	ec := map[string]string{}
	for range r.IntN(9) {
		ec[fmt.Sprintf("k%d", r.IntN(1000))] = fmt.Sprintf("v%d", r.IntN(1000))
	}
	return ec
}

// TestRoundTrip: random plaintexts of 0–4096 bytes with contexts of 0–8
// pairs decrypt to themselves (C6).
func TestRoundTrip(t *testing.T) {
	r := testRand(t)
	k, id := newTestKey(t)
	for i := range 3000 {
		pt := make([]byte, r.IntN(4097))
		rand.Read(pt)
		ec := randomContext(r)
		blob, err := Seal(rand.Reader, k, id, pt, ec)
		if err != nil {
			t.Fatal(err)
		}
		if len(blob) != len(pt)+Overhead {
			t.Fatalf("iteration %d: %d-byte blob for %d bytes", i, len(blob), len(pt))
		}
		got, err := Open(k, blob, ec)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("iteration %d: round trip failed: %v", i, err)
		}
	}
}

// TestBitFlipsAndTruncations: no single-bit change and no truncation of a
// ciphertext is accepted (C7).
func TestBitFlipsAndTruncations(t *testing.T) {
	k, id := newTestKey(t)
	ec := map[string]string{"a": "b"}
	blobs := 2000
	if testing.Short() {
		blobs = 20
	}
	for range blobs {
		blob, err := Seal(rand.Reader, k, id, make([]byte, 32), ec)
		if err != nil {
			t.Fatal(err)
		}
		for bit := range len(blob) * 8 {
			mut := bytes.Clone(blob)
			mut[bit/8] ^= 1 << (bit % 8)
			if _, err := Open(k, mut, ec); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("bit %d flipped: accepted", bit)
			}
		}
		for n := range len(blob) {
			if _, err := Open(k, blob[:n], ec); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("truncated to %d bytes: accepted", n)
			}
		}
		if _, err := Open(k, append(bytes.Clone(blob), 0), ec); !errors.Is(err, ErrDecrypt) {
			t.Fatal("extended blob accepted")
		}
	}
}

// TestContextBinding: any change of the context but order is refused (C8).
func TestContextBinding(t *testing.T) {
	r := testRand(t)
	k, id := newTestKey(t)
	ec := map[string]string{"tenant": "acme", "purpose": "backup", "Case": "x"}
	blob, err := Seal(rand.Reader, k, id, []byte("data"), ec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(k, blob, map[string]string{"Case": "x", "purpose": "backup", "tenant": "acme"}); err != nil {
		t.Fatalf("same context, other order: %v", err)
	}
	mutants := []map[string]string{
		nil,
		{"tenant": "acme", "purpose": "backup"},
		{"tenant": "acme", "purpose": "backup", "Case": "x", "extra": ""},
		{"tenant": "acme", "purpose": "backup", "case": "x"},
		{"tenant": "Acme", "purpose": "backup", "Case": "x"},
		{"tenant": "acme", "purpose": "backup ", "Case": "x"},
		{"tenantacme": "", "purpose": "backup", "Case": "x"},
	}
	for range 10_000 {
		m := map[string]string{}
		for k, v := range ec {
			m[k] = v
		}
		key := []string{"tenant", "purpose", "Case"}[r.IntN(3)]
		m[key] += string(rune('a' + r.IntN(26)))
		mutants = append(mutants, m)
	}
	for _, m := range mutants {
		if _, err := Open(k, blob, m); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("context %v accepted", m)
		}
	}
	a, _ := EncodeContext(map[string]string{"ab": "c"})
	b, _ := EncodeContext(map[string]string{"a": "bc"})
	if bytes.Equal(a, b) {
		t.Fatal(`{"ab":"c"} and {"a":"bc"} encode the same`)
	}
}

// TestWrongKeyAndHeaderSwaps: another key, another version, or a header
// field taken from another ciphertext never decrypts (C9).
func TestWrongKeyAndHeaderSwaps(t *testing.T) {
	k1, id1 := newTestKey(t)
	k2, id2 := newTestKey(t)
	b1, _ := Seal(rand.Reader, k1, id1, []byte("one"), nil)
	b2, _ := Seal(rand.Reader, k2, id2, []byte("two"), nil)
	if _, err := Open(k2, b1, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatal("opened under the wrong key")
	}
	for _, f := range []struct {
		name     string
		from, to int
	}{
		{"key id", offKeyID, offMaterialID}, {"material id", offMaterialID, offSalt},
		{"salt", offSalt, offIV}, {"iv", offIV, HeaderSize},
	} {
		mut := bytes.Clone(b1)
		copy(mut[f.from:f.to], b2[f.from:f.to])
		if _, err := Open(k1, mut, nil); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%s swapped: accepted", f.name)
		}
	}
	for i := range 10_000 {
		k3, _ := newTestKey(t)
		if _, err := Open(k3, b1, nil); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("trial %d: opened under a random key", i)
		}
	}
	// A ciphertext claiming k2's material id under k1's key id.
	mut := bytes.Clone(b2)
	copy(mut[offKeyID:offMaterialID], id1[:])
	if _, err := Open(k2, mut, nil); !errors.Is(err, ErrDecrypt) {
		t.Error("key id swapped: accepted")
	}
}

// TestSaltAndIVUnique: salts and IVs never repeat (C10).
func TestSaltAndIVUnique(t *testing.T) {
	k, id := newTestKey(t)
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	salts := make(map[[saltSize]byte]bool, n)
	ivs := make(map[[ivSize]byte]bool, n)
	for range n {
		b, err := Seal(rand.Reader, k, id, []byte{1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := ParseHeader(b)
		if salts[h.Salt] || ivs[h.IV] {
			t.Fatal("repeated salt or IV")
		}
		salts[h.Salt], ivs[h.IV] = true, true
	}
}

func TestKeyIDs(t *testing.T) {
	id, _ := NewKeyID(rand.Reader)
	s := id.String()
	if len(s) != 36 || s[14] != '4' {
		t.Fatalf("NewKeyID gave %s, not a version-4 UUID", s)
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{s, true},
		{"1234ABCD-12AB-34CD-56EF-1234567890AB", true},
		{"1234abcd12ab34cd56ef1234567890ab", false},
		{"1234abcd-12ab-34cd-56ef-1234567890a", false},
		{"1234abcd-12ab-34cd-56ef-1234567890ag", false},
		{"1234abcd_12ab-34cd-56ef-1234567890ab", false},
		{"{1234abcd-12ab-34cd-56ef-1234567890}", false},
		{"1234abcd-12ab-34cd-56ef-1234567890ab ", false},
		{"+234abcd-12ab-34cd-56ef-1234567890ab", false},
		{"", false},
	} {
		got, err := ParseKeyID(c.in)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidKeyID)) {
			t.Errorf("ParseKeyID(%q) error %v", c.in, err)
		}
		if c.ok && !bytes.EqualFold([]byte(got.String()), []byte(c.in)) {
			t.Errorf("ParseKeyID(%q).String() = %s", c.in, got)
		}
	}
}

func TestWrapKey(t *testing.T) {
	root, _ := newTestKey(t)
	other, _ := newTestKey(t)
	k, _ := newTestKey(t)
	aad := []byte("place-a")
	w, err := WrapKey(rand.Reader, root, k, aad)
	if err != nil || len(w) != WrappedSize {
		t.Fatalf("WrapKey: %d bytes, %v", len(w), err)
	}
	if got, err := UnwrapKey(root, w, aad); err != nil || !got.Equal(k) {
		t.Fatalf("UnwrapKey: %v", err)
	}
	if bytes.Contains(w, k.Bytes()) {
		t.Fatal("wrapped blob contains the material")
	}
	if _, err := UnwrapKey(other, w, aad); !errors.Is(err, ErrDecrypt) {
		t.Fatal("unwrapped under another root key")
	}
	if _, err := UnwrapKey(root, w, []byte("place-b")); !errors.Is(err, ErrDecrypt) {
		t.Fatal("unwrapped with another aad (cut and paste)")
	}
	for i := range len(w) {
		mut := bytes.Clone(w)
		mut[i] ^= 0x80
		if _, err := UnwrapKey(root, mut, aad); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d changed: unwrapped", i)
		}
	}
}

// TestProgrammerErrorsPanic: the zero Key and impossible lengths in the
// internal primitives are programmer errors and panic.
func TestProgrammerErrorsPanic(t *testing.T) {
	k, id := newTestKey(t)
	var zero Key
	for name, f := range map[string]func(){
		"Seal zero key":         func() { Seal(rand.Reader, zero, id, nil, nil) },
		"Open zero key":         func() { Open(zero, make([]byte, Overhead), nil) },
		"WrapKey zero root":     func() { WrapKey(rand.Reader, zero, k, nil) },
		"WrapKey zero key":      func() { WrapKey(rand.Reader, k, zero, nil) },
		"UnwrapKey zero root":   func() { UnwrapKey(zero, make([]byte, WrappedSize), nil) },
		"Bytes":                 func() { zero.Bytes() },
		"MaterialID":            func() { zero.MaterialID() },
		"Equal":                 func() { k.Equal(zero) },
		"RootKeyFingerprint":    func() { RootKeyFingerprint(zero) },
		"hkdf32 long salt":      func() { hkdf32(seq(0, 32), seq(0, 65), nil) },
		"hkdf32 long info":      func() { hkdf32(seq(0, 32), nil, seq(0, maxInfo+1)) },
		"hkdf32 long secret":    func() { hkdf32(seq(0, maxInfo+33), nil, nil) },
		"sealGCM short IV":      func() { sealGCM(nil, seq(0, 32), seq(0, 8), nil, nil) },
		"sealGCM AES-128 key":   func() { sealGCM(nil, seq(0, 16), seq(0, 12), nil, nil) },
		"hmacSHA256 long input": func() { hmacSHA256(nil, seq(0, maxInfo+33)) },
		"WrapBytes zero root":   func() { WrapBytes(rand.Reader, zero, nil, nil) },
		"UnwrapBytes zero root": func() { UnwrapBytes(zero, make([]byte, 64), nil) },
		"SealImportToken zero":  func() { SealImportToken(rand.Reader, zero, ImportToken{}) },
		"OpenImportToken zero":  func() { OpenImportToken(zero, make([]byte, 64)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

func TestDecodeContextRejectsNonCanonical(t *testing.T) {
	good, _ := EncodeContext(map[string]string{"a": "1", "b": "2"})
	swapped := binary.BigEndian.AppendUint16(nil, 2)
	swapped = append(swapped, 0, 1, 'b', 0, 1, '2', 0, 1, 'a', 0, 1, '1')
	dup := binary.BigEndian.AppendUint16(nil, 2)
	dup = append(dup, 0, 1, 'a', 0, 1, '1', 0, 1, 'a', 0, 1, '2')
	for name, b := range map[string][]byte{
		"trailing": append(bytes.Clone(good), 0), "truncated": good[:len(good)-1],
		"unsorted": swapped, "duplicate": dup, "zero count": {0, 0}, "one byte": {1},
		"empty key": {0, 1, 0, 0, 0, 0},
	} {
		if _, err := DecodeContext(b); !errors.Is(err, ErrInvalidContext) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	m, err := DecodeContext(good)
	if err != nil || m["a"] != "1" || m["b"] != "2" || len(m) != 2 {
		t.Fatalf("DecodeContext(good) = %v, %v", m, err)
	}
}

func TestValidateContext(t *testing.T) {
	big := map[string]string{"k": string(make([]byte, MaxContextBytes))}
	for name, ec := range map[string]map[string]string{
		"empty key": {"": "v"}, "bad utf8 key": {"\xff": "v"}, "bad utf8 value": {"k": "\xfe"}, "too big": big,
	} {
		if err := ValidateContext(ec); !errors.Is(err, ErrInvalidContext) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := ValidateContext(map[string]string{"k": string(make([]byte, MaxContextBytes-1))}); err != nil {
		t.Errorf("context at the limit refused: %v", err)
	}
}

// TestUniformDecryptErrors: every reason for a failed decryption or unwrap
// gives the very same error value, unwrapped, and no plaintext (L4).
func TestUniformDecryptErrors(t *testing.T) {
	k, id := newTestKey(t)
	other, _ := newTestKey(t)
	ec := map[string]string{"a": "b"}
	blob, _ := Seal(rand.Reader, k, id, []byte("secret"), ec)
	with := func(i int, b byte) []byte { m := bytes.Clone(blob); m[i] = b; return m }
	cases := []struct {
		name string
		key  Key
		blob []byte
		ec   map[string]string
	}{
		{"empty", k, nil, ec},
		{"truncated header", k, blob[:HeaderSize], ec},
		{"unknown format", k, with(0, 0x02), ec},
		{"unknown algorithm", k, with(1, 0x02), ec},
		{"other key id", k, with(offKeyID, blob[offKeyID]^1), ec},
		{"other material id", k, with(offMaterialID, blob[offMaterialID]^1), ec},
		{"wrong key", other, blob, ec},
		{"bad tag", k, with(len(blob)-1, blob[len(blob)-1]^1), ec},
		{"bad ciphertext", k, with(HeaderSize, blob[HeaderSize]^1), ec},
		{"wrong context", k, blob, map[string]string{"a": "c"}},
		{"no context", k, blob, nil},
		{"invalid context", k, blob, map[string]string{"": "b"}},
	}
	for _, c := range cases {
		pt, err := Open(c.key, c.blob, c.ec)
		if err != ErrDecrypt || pt != nil {
			t.Errorf("%s: Open = %q, %v; want nil, ErrDecrypt itself", c.name, pt, err)
		}
	}
	if _, err := ParseHeader(with(0, 0)); err != ErrDecrypt {
		t.Errorf("ParseHeader: %v", err)
	}
	w, _ := WrapKey(rand.Reader, k, other, []byte("aad"))
	for name, wr := range map[string][]byte{"short": w[:len(w)-1], "long": append(bytes.Clone(w), 0), "format": append([]byte{2}, w[1:]...)} {
		if got, err := UnwrapKey(k, wr, []byte("aad")); err != ErrDecrypt || got.ok {
			t.Errorf("UnwrapKey %s: %v", name, err)
		}
	}
	if _, err := UnwrapKey(other, w, []byte("aad")); err != ErrDecrypt {
		t.Errorf("UnwrapKey under the wrong root: %v", err)
	}
}

// TestRandomnessFailures: a failing random source is an error that wraps
// the source's error, never a result made of partial or zero randomness.
func TestRandomnessFailures(t *testing.T) {
	k, id := newTestKey(t)
	errRand := errors.New("entropy exhausted")
	short := func() io.Reader { return io.MultiReader(bytes.NewReader(make([]byte, 10)), iotest.ErrReader(errRand)) }
	path := filepath.Join(t.TempDir(), "root.key")
	for name, call := range map[string]func(io.Reader) error{
		"GenerateKey": func(r io.Reader) error { _, err := GenerateKey(r); return err },
		"NewKeyID":    func(r io.Reader) error { _, err := NewKeyID(r); return err },
		"Seal":        func(r io.Reader) error { _, err := Seal(r, k, id, []byte("x"), nil); return err },
		"WrapKey":     func(r io.Reader) error { _, err := WrapKey(r, k, k, nil); return err },
		"WrapBytes":   func(r io.Reader) error { _, err := WrapBytes(r, k, []byte("x"), nil); return err },
		"SealImportToken": func(r io.Reader) error {
			_, err := SealImportToken(r, k, ImportToken{Algorithm: WrapRSAESOAEPSHA256, Spec: "RSA_2048"})
			return err
		},
		"WrapForImport": func(r io.Reader) error {
			_, err := WrapForImport(r, &testWrappingKeys(t)["RSA_2048"].PublicKey, WrapRSAAESKeyWrapSHA256, seq(0, 32))
			return err
		},
		"WriteRootKeyFile": func(r io.Reader) error {
			err := WriteRootKeyFile(path, r)
			if _, serr := os.Stat(path); serr == nil {
				t.Error("WriteRootKeyFile left a file behind")
			}
			return err
		},
	} {
		if err := call(short()); !errors.Is(err, errRand) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
