package envelope

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// wycheproofDir holds the external test vectors; they are read in place,
// never copied into the repository.
var wycheproofDir = filepath.Join("..", "..", "shared", "testdata", "wycheproof")

func readVectors(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(wycheproofDir, name))
	if err != nil {
		t.Fatalf("Wycheproof vectors missing: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

type aeadVectors struct {
	TestGroups []struct {
		IVSize  int `json:"ivSize"`
		KeySize int `json:"keySize"`
		TagSize int `json:"tagSize"`
		Tests   []struct {
			TcID   int    `json:"tcId"`
			Key    string `json:"key"`
			IV     string `json:"iv"`
			AAD    string `json:"aad"`
			Msg    string `json:"msg"`
			CT     string `json:"ct"`
			Tag    string `json:"tag"`
			Result string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// TestWycheproofAESGCM runs the 256-bit-key, 96-bit-IV vectors through the
// AEAD wrapper (C1), and puts every vector with another IV size into the
// IV slot of a ciphertext to show the parser and Open reject it without
// panicking.
func TestWycheproofAESGCM(t *testing.T) {
	var v aeadVectors
	readVectors(t, "aes_gcm_test.json", &v)
	var valid, invalid, otherIV int
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			key, iv, aad := mustHex(t, tc.Key), mustHex(t, tc.IV), mustHex(t, tc.AAD)
			msg, sealed := mustHex(t, tc.Msg), mustHex(t, tc.CT+tc.Tag)
			switch {
			case g.IVSize != 96:
				otherIV++
				checkOtherIV(t, tc.TcID, key, iv, aad, sealed)
			case g.KeySize != 256 || g.TagSize != 128:
				continue
			case tc.Result == "valid":
				valid++
				if got := sealGCM(nil, key, iv, msg, aad); !bytes.Equal(got, sealed) {
					t.Errorf("tc %d: seal gives %x, want %x", tc.TcID, got, sealed)
				}
				pt, err := openGCM(key, iv, sealed, aad)
				if err != nil || !bytes.Equal(pt, msg) {
					t.Errorf("tc %d: open failed: %v", tc.TcID, err)
				}
			default:
				invalid++
				if pt, err := openGCM(key, iv, sealed, aad); !errors.Is(err, ErrDecrypt) || pt != nil {
					t.Errorf("tc %d: invalid vector accepted", tc.TcID)
				}
			}
		}
	}
	t.Logf("AES-256-GCM: %d valid, %d invalid; %d vectors with other IV sizes rejected", valid, invalid, otherIV)
	if valid == 0 || invalid == 0 || otherIV == 0 {
		t.Fatal("no vectors of some kind processed")
	}
	if valid != 39 || invalid != 27 || otherIV != 119 {
		t.Fatalf("processed %d valid, %d invalid, %d other-IV vectors; want 39, 27, 119", valid, invalid, otherIV)
	}
}

// checkOtherIV shows that an IV of another size is refused, never a panic:
// by the AEAD wrapper directly, and as the IV field of a ciphertext whose
// header is cut or extended to hold it, by ParseHeader and Open.
func checkOtherIV(t *testing.T, tcID int, key, iv, aad, sealed []byte) {
	t.Helper()
	if pt, err := openGCM(key, iv, sealed, aad); !errors.Is(err, ErrDecrypt) || pt != nil {
		t.Errorf("tc %d: openGCM accepted a %d-bit IV", tcID, len(iv)*8)
	}
	k := mustKey(t, seq(0, 32))
	blob := blobWithIV(k, iv, sealed)
	if h, err := ParseHeader(blob); err == nil && len(blob) < Overhead {
		t.Errorf("tc %d: ParseHeader accepted a %d-byte blob: %+v", tcID, len(blob), h)
	} else if err != nil && !errors.Is(err, ErrDecrypt) {
		t.Errorf("tc %d: ParseHeader error %v is not ErrDecrypt", tcID, err)
	}
	if pt, err := Open(k, blob, nil); !errors.Is(err, ErrDecrypt) || pt != nil {
		t.Errorf("tc %d: a %d-bit IV was accepted", tcID, len(iv)*8)
	}
}

// blobWithIV builds a version-1 ciphertext for k whose IV field holds iv,
// whatever its length.
func blobWithIV(k Key, iv, sealed []byte) []byte {
	blob := make([]byte, 0, HeaderSize-ivSize+len(iv)+len(sealed))
	blob = append(blob, FormatV1, AlgAES256GCMHKDFSHA256)
	blob = append(blob, make([]byte, 16)...)
	mid := k.MaterialID()
	blob = append(blob, mid[:]...)
	blob = append(blob, make([]byte, saltSize)...)
	return append(append(blob, iv...), sealed...)
}

// otherIVBlobs returns, for every Wycheproof AES-GCM vector whose IV is not
// 96 bits, a ciphertext for k carrying that IV (fuzz seeds).
func otherIVBlobs(t testing.TB, k Key) [][]byte {
	var v aeadVectors
	readVectors(t, "aes_gcm_test.json", &v)
	var blobs [][]byte
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			if g.IVSize != 96 {
				blobs = append(blobs, blobWithIV(k, mustHex(t, tc.IV), mustHex(t, tc.CT+tc.Tag)))
			}
		}
	}
	return blobs
}

func TestWycheproofHKDF(t *testing.T) {
	var v struct {
		TestGroups []struct {
			Tests []struct {
				TcID   int    `json:"tcId"`
				IKM    string `json:"ikm"`
				Salt   string `json:"salt"`
				Info   string `json:"info"`
				Size   int    `json:"size"`
				OKM    string `json:"okm"`
				Result string `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readVectors(t, "hkdf_sha256_test.json", &v)
	var valid, invalid int
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			okm, err := deriveKey(mustHex(t, tc.IKM), mustHex(t, tc.Salt), mustHex(t, tc.Info), tc.Size)
			if tc.Result == "valid" {
				valid++
				if err != nil || hex.EncodeToString(okm) != tc.OKM {
					t.Errorf("tc %d: okm mismatch (%v)", tc.TcID, err)
				}
				continue
			}
			invalid++
			if err == nil {
				t.Errorf("tc %d: size %d accepted", tc.TcID, tc.Size)
			}
		}
	}
	t.Logf("HKDF-SHA256: %d valid, %d invalid", valid, invalid)
	if valid != 83 || invalid != 3 {
		t.Fatalf("processed %d valid and %d invalid vectors; want 83 and 3", valid, invalid)
	}
}

// TestHKDF32MatchesStandardLibrary checks the allocation-free HKDF of the
// hot path against crypto/hkdf on the Wycheproof inputs it accepts and on
// random inputs of the sizes Seal uses.
func TestHKDF32MatchesStandardLibrary(t *testing.T) {
	var v struct {
		TestGroups []struct {
			Tests []struct {
				IKM, Salt, Info string
				Size            int
			} `json:"tests"`
		} `json:"testGroups"`
	}
	readVectors(t, "hkdf_sha256_test.json", &v)
	checked := 0
	check := func(secret, salt, info []byte) {
		want, err := deriveKey(secret, salt, info, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := hkdf32(secret, salt, info); !bytes.Equal(got[:], want) {
			t.Fatalf("hkdf32(%x, %x, %x) = %x, want %x", secret, salt, info, got, want)
		}
		checked++
	}
	for _, g := range v.TestGroups {
		for _, tc := range g.Tests {
			ikm, salt, info := mustHex(t, tc.IKM), mustHex(t, tc.Salt), mustHex(t, tc.Info)
			if len(salt) <= hmacBlockSize && len(info) <= maxInfo && len(ikm) <= maxInfo+32 {
				check(ikm, salt, info)
			}
		}
	}
	for range 2000 {
		secret, salt, info := make([]byte, 32), make([]byte, 32), make([]byte, 59)
		rand.Read(secret)
		rand.Read(salt)
		rand.Read(info)
		check(secret, salt, info)
	}
	if checked < 2050 {
		t.Fatalf("only %d inputs checked", checked)
	}
	if n := testing.AllocsPerRun(100, func() { hkdf32(make([]byte, 32), make([]byte, 32), make([]byte, 59)) }); n != 0 {
		t.Errorf("hkdf32 allocates %v times", n)
	}
}
