package iam

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"testing"
)

// TestHMACMatchesStandardLibrary: the inline HMAC-SHA256 against
// crypto/hmac, on RFC 4231's test case 2 and on random keys (shorter and
// longer than a block) and messages (up to and past the inline buffer).
func TestHMACMatchesStandardLibrary(t *testing.T) {
	// RFC 4231, test case 2.
	want, _ := hex.DecodeString("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
	if got := hmacSHA256([]byte("Jefe"), []byte("what do ya want for nothing?")); !bytes.Equal(got, want) {
		t.Fatalf("RFC 4231 case 2: %x", got)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		key := make([]byte, r.IntN(200))
		msg := make([]byte, r.IntN(2*hmacInline))
		for j := range key {
			key[j] = byte(r.Uint32())
		}
		for j := range msg {
			msg[j] = byte(r.Uint32())
		}
		m := hmac.New(sha256.New, key)
		m.Write(msg)
		if got := hmacSHA256(key, msg); !bytes.Equal(got, m.Sum(nil)) {
			t.Fatalf("case %d (key %d bytes, message %d bytes): differs from crypto/hmac", i, len(key), len(msg))
		}
	}
}
