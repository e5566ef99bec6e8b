package envelope

import (
	"crypto/rand"
	"io"
	"testing"
)

func benchSeal(b *testing.B, n int) {
	k, id := newTestKey(b)
	pt := make([]byte, n)
	ec := map[string]string{"purpose": "bench"}
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := Seal(rand.Reader, k, id, pt, ec); err != nil {
			b.Fatal(err)
		}
	}
}

func benchOpen(b *testing.B, n int) {
	k, id := newTestKey(b)
	ec := map[string]string{"purpose": "bench"}
	blob, _ := Seal(rand.Reader, k, id, make([]byte, n), ec)
	b.SetBytes(int64(n))
	for b.Loop() {
		if _, err := Open(k, blob, ec); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeal32(b *testing.B) { benchSeal(b, 32) }
func BenchmarkOpen32(b *testing.B) { benchOpen(b, 32) }
func BenchmarkSeal4K(b *testing.B) { benchSeal(b, 4096) }
func BenchmarkOpen4K(b *testing.B) { benchOpen(b, 4096) }

func BenchmarkDeriveKey(b *testing.B) {
	secret, salt, info := seq(0, 32), seq(32, 32), seq(64, 59)
	for b.Loop() {
		if _, err := deriveKey(secret, salt, info, 32); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHKDF32 is the allocation-free derivation Seal and Open use.
func BenchmarkHKDF32(b *testing.B) {
	secret, salt, info := seq(0, 32), seq(32, 32), seq(64, 59)
	for b.Loop() {
		hkdf32(secret, salt, info)
	}
}

// BenchmarkDataKey is GenerateDataKey's crypto: 32 random bytes sealed.
func BenchmarkDataKey(b *testing.B) {
	k, id := newTestKey(b)
	dk := make([]byte, 32)
	b.SetBytes(32)
	for b.Loop() {
		io.ReadFull(rand.Reader, dk)
		if _, err := Seal(rand.Reader, k, id, dk, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrapKey(b *testing.B) {
	root, _ := newTestKey(b)
	k, _ := newTestKey(b)
	for b.Loop() {
		if _, err := WrapKey(rand.Reader, root, k, []byte("aad")); err != nil {
			b.Fatal(err)
		}
	}
}
