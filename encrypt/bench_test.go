package encrypt_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kmsd/kmsd/encrypt"
	"github.com/kmsd/kmsd/envelope/message"
)

// benchSize is the large input of the throughput benchmarks.
const benchSize = 32 << 20

// rawGCM encrypts (or, with open, decrypts) buf frame by frame in place
// with AES-256-GCM, as the message format does, without the format: the
// machine's single-core speed for the frame size.
func rawGCM(b *testing.B, g cipher.AEAD, frames [][]byte, open bool) {
	var nonce [12]byte
	for i, f := range frames {
		nonce[11] = byte(i)
		if open {
			if _, err := g.Open(f[:0], nonce[:], f, nil); err != nil {
				b.Fatal(err)
			}
		} else {
			g.Seal(f[:0], nonce[:], f[:len(f)-16], nil)
		}
	}
}

// BenchmarkThroughput compares streaming encryption and decryption of a
// 32 MiB input with raw AES-256-GCM on the same frames, both measured in
// each iteration, and reports the ratios (encrypt/raw, decrypt/raw), for
// the default frame size and two others. Decryption from an io.Reader
// (here a bytes.Reader) pays one copy the raw cipher does not — the
// ciphertext read from the source — which a Reader does ahead, in a
// goroutine of its own, while it decrypts (envelope/message); decryption
// from a bytes.Buffer (decrypt-buffer/raw, as Client.Decrypt does) reads
// frames in place.
func BenchmarkThroughput(b *testing.B) {
	for _, fs := range []int{16 << 10, message.DefaultFrameSize, 256 << 10} {
		b.Run(fmt.Sprintf("frame=%dKiB", fs>>10), func(b *testing.B) { benchThroughput(b, fs) })
	}
}

func benchThroughput(b *testing.B, fs int) {
	ctx := context.Background()
	c, _, key := newClient(b, encrypt.WithFrameSize(fs))
	pt := data(benchSize)
	msg, err := c.Encrypt(ctx, key, pt, nil)
	if err != nil {
		b.Fatal(err)
	}
	block, _ := aes.NewCipher(make([]byte, 32))
	g, _ := cipher.NewGCM(block)
	raw := make([]byte, benchSize/fs*(fs+16))
	var frames [][]byte
	for i := 0; i < len(raw); i += fs + 16 {
		frames = append(frames, raw[i:i+fs+16])
	}
	rawGCM(b, g, frames, false)
	var tRawSeal, tRawOpen, tEnc, tDec time.Duration
	var encRatios, decRatios, bufRatios []float64
	b.SetBytes(benchSize)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		rawGCM(b, g, frames, true)
		t1 := time.Now()
		rawGCM(b, g, frames, false)
		t2 := time.Now()
		w, err := c.NewEncryptingWriter(ctx, io.Discard, key, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(w, bytes.NewReader(pt)); err != nil || w.Close() != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		r, err := c.NewDecryptingReader(ctx, bytes.NewReader(msg), nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		t4 := time.Now()
		// From a bytes.Buffer, frames are decrypted straight from its
		// memory: no copy into the frame buffer.
		r, err = c.NewDecryptingReader(ctx, bytes.NewBuffer(msg), nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
			b.Fatal(n, err)
		}
		t5 := time.Now()
		tRawOpen, tRawSeal, tEnc, tDec = tRawOpen+t1.Sub(t0), tRawSeal+t2.Sub(t1), tEnc+t3.Sub(t2), tDec+t4.Sub(t3)
		encRatios = append(encRatios, t2.Sub(t1).Seconds()/t3.Sub(t2).Seconds())
		decRatios = append(decRatios, t1.Sub(t0).Seconds()/t4.Sub(t3).Seconds())
		bufRatios = append(bufRatios, t1.Sub(t0).Seconds()/t5.Sub(t4).Seconds())
	}
	mbps := func(d time.Duration) float64 { return float64(b.N) * benchSize / d.Seconds() / 1e6 }
	b.ReportMetric(mbps(tRawSeal), "raw-seal-MB/s")
	b.ReportMetric(mbps(tEnc), "encrypt-MB/s")
	b.ReportMetric(mbps(tRawOpen), "raw-open-MB/s")
	b.ReportMetric(mbps(tDec), "decrypt-MB/s")
	// The median of the ratios of each iteration, where the two were
	// measured a few milliseconds apart: robust to the bursts of other
	// work on a shared machine.
	b.ReportMetric(median(encRatios), "encrypt/raw")
	b.ReportMetric(median(decRatios), "decrypt/raw")
	b.ReportMetric(median(bufRatios), "decrypt-buffer/raw")
}

func median(x []float64) float64 {
	slices.Sort(x)
	return x[len(x)/2]
}

// pattern is an endless input that allocates nothing.
type pattern struct{ n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	k := int(min(int64(len(b)), p.n))
	for i := range b[:k] {
		b[i] = byte(i)
	}
	p.n -= int64(k)
	return k, nil
}

// pipeline encrypts size bytes into a pipe and decrypts them from it, so
// that neither the plaintext nor the message is ever whole in memory.
func pipeline(tb testing.TB, c *encrypt.Client, key string, size int64) {
	ctx := context.Background()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		w, err := c.NewEncryptingWriter(ctx, pw, key, nil)
		if err == nil {
			if _, err = io.Copy(w, &pattern{n: size}); err == nil {
				err = w.Close()
			}
		}
		pw.CloseWithError(err)
		done <- err
	}()
	r, err := c.NewDecryptingReader(ctx, pr, nil)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	if err != nil || n != size {
		tb.Fatal(n, err)
	}
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkStreamMemory encrypts and decrypts 16 MiB and 256 MiB through a
// pipe: B/op stays the same whatever the size (one frame buffer each
// way, the header and the key setup).
func BenchmarkStreamMemory(b *testing.B) {
	c, _, key := newClient(b)
	for _, size := range []int64{16 << 20, 256 << 20} {
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			for b.Loop() {
				pipeline(b, c, key, size)
			}
		})
	}
}

// TestMemoryFlat: encrypting and decrypting 128 MiB allocates no more
// than 16 MiB does (a bounded constant: buffers, header, key setup).
func TestMemoryFlat(t *testing.T) {
	c, _, key := newClient(t)
	alloc := func(size int64) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		pipeline(t, c, key, size)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	alloc(1 << 20) // warm up
	small, large := alloc(16<<20), alloc(128<<20)
	t.Logf("allocated %d bytes for 16 MiB, %d bytes for 128 MiB", small, large)
	if large > small+64<<10 || large > 1<<20 {
		t.Fatalf("allocated %d bytes for 128 MiB against %d for 16 MiB: memory grows with the size", large, small)
	}
}

// BenchmarkCache encrypts and decrypts 1 KiB messages with and without a
// data key cache, against the in-memory stand-in for kmsd (no network:
// the speed-up against a real kmsd, BenchmarkCacheKmsd in e2e, is far
// larger).
func BenchmarkCache(b *testing.B) {
	for _, cached := range []bool{false, true} {
		b.Run(fmt.Sprintf("cache=%v", cached), func(b *testing.B) {
			var opts []encrypt.Option
			if cached {
				opts = append(opts, encrypt.WithCache(encrypt.CacheConfig{MaxAge: time.Minute, MaxMessages: 1000}))
			}
			c, _, key := newClient(b, opts...)
			ctx, pt, ec := context.Background(), data(1024), map[string]string{"tenant": "a"}
			for b.Loop() {
				msg, err := c.Encrypt(ctx, key, pt, ec)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := c.Decrypt(ctx, msg, ec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
