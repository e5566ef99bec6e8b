package encrypt_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/encrypt"
	"github.com/kmsd/kmsd/encrypt/encrypttest"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/envelope/message"
)

func newClient(t testing.TB, opts ...encrypt.Option) (*encrypt.Client, *encrypttest.KMS, string) {
	t.Helper()
	kms := encrypttest.NewKMS()
	key := kms.CreateKey()
	c, err := encrypt.New(kms, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, kms, key
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 31 >> 3)
	}
	return b
}

func TestRoundTripSizes(t *testing.T) {
	ctx := context.Background()
	ec := map[string]string{"tenant": "t1", "purpose": "test"}
	for _, fs := range []int{1, 100, message.DefaultFrameSize} {
		c, _, key := newClient(t, encrypt.WithFrameSize(fs))
		for _, n := range []int{0, 1, 99, 100, 101, 1000, 200000} {
			pt := data(n)
			msg, err := c.Encrypt(ctx, key, pt, ec)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(msg, pt[:min(n, 64)]) && n >= 16 {
				t.Fatalf("frame %d, %d bytes: the message holds the plaintext", fs, n)
			}
			got, err := c.Decrypt(ctx, msg, ec)
			if err != nil || !bytes.Equal(got, pt) {
				t.Fatalf("frame %d, %d bytes: %v", fs, n, err)
			}
			// The streaming reader agrees, through small reads.
			r, err := c.NewDecryptingReader(ctx, bytes.NewReader(msg), nil)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if _, err := io.CopyBuffer(&out, struct{ io.Reader }{r}, make([]byte, 7)); err != nil || !bytes.Equal(out.Bytes(), pt) {
				t.Fatalf("frame %d, %d bytes, streaming: %v", fs, n, err)
			}
			if r.KeyID() != key || r.EncryptionContext()["tenant"] != "t1" {
				t.Fatalf("reader reports key %q context %v", r.KeyID(), r.EncryptionContext())
			}
		}
	}
}

func TestRequiredContext(t *testing.T) {
	ctx := context.Background()
	c, kms, key := newClient(t)
	msg, err := c.Encrypt(ctx, key, []byte("x"), map[string]string{"a": "1", "b": "2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []map[string]string{{"a": "2"}, {"c": "1"}, {"a": "1", "b": "2", "c": ""}} {
		if _, err := c.Decrypt(ctx, msg, req); !errors.Is(err, encrypt.ErrContextMismatch) {
			t.Fatalf("required %v: %v, want ErrContextMismatch", req, err)
		}
	}
	if n := kms.Calls("Decrypt"); n != 0 {
		t.Fatalf("kmsd was asked to decrypt %d times for mismatched contexts", n)
	}
	for _, req := range []map[string]string{nil, {}, {"a": "1"}, {"a": "1", "b": "2"}} {
		if got, err := c.Decrypt(ctx, msg, req); err != nil || string(got) != "x" {
			t.Fatalf("required %v: %v", req, err)
		}
	}
}

func TestTamperedMessages(t *testing.T) {
	ctx := context.Background()
	c, _, key := newClient(t, encrypt.WithFrameSize(64))
	pt := data(300)
	msg, err := c.Encrypt(ctx, key, pt, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := message.ReadHeader(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(msg); i += 3 {
		m := bytes.Clone(msg)
		m[i] ^= 0x10
		got, err := c.Decrypt(ctx, m, nil)
		if err == nil || got != nil {
			t.Fatalf("flip at %d: decrypted", i)
		}
		// Inside the header's wrapped key or context kmsd refuses; anywhere
		// else the message itself does.
		if i >= h.Size() && !errors.Is(err, envelope.ErrDecrypt) {
			t.Fatalf("flip at %d (body): %v, want ErrDecrypt", i, err)
		}
	}
	for n := range len(msg) {
		if _, err := c.Decrypt(ctx, msg[:n], nil); err == nil {
			t.Fatalf("truncated to %d: decrypted", n)
		}
	}
	// A message under another data key with a swapped header fails the
	// commitment check.
	other, err := c.Encrypt(ctx, key, pt, map[string]string{"k": "v"})
	if err != nil {
		t.Fatal(err)
	}
	spliced := append(bytes.Clone(other[:h.Size()]), msg[h.Size():]...)
	if _, err := c.Decrypt(ctx, spliced, nil); !errors.Is(err, envelope.ErrDecrypt) {
		t.Fatalf("header of another message: %v", err)
	}
}

func TestKMSErrorsPassThrough(t *testing.T) {
	ctx := context.Background()
	c, kms, _ := newClient(t)
	_, err := c.Encrypt(ctx, "arn:aws:kms:us-east-1:111122223333:key/00000000-0000-0000-0000-000000000000", []byte("x"), nil)
	if status.Code(err) != codes.NotFound {
		t.Fatalf("unknown key: %v, want NotFound", err)
	}
	if _, err := c.Encrypt(ctx, kms.CreateKey(), []byte("x"), map[string]string{"": "empty key"}); !errors.Is(err, envelope.ErrInvalidContext) {
		t.Fatalf("invalid context: %v", err)
	}
	if n := kms.Calls("GenerateDataKey"); n != 1 {
		t.Fatalf("GenerateDataKey called %d times, want 1 (not for the invalid context)", n)
	}
	// Another client's kmsd (other key material) cannot unwrap.
	c2, _, key2 := newClient(t)
	msg, err := c2.Encrypt(ctx, key2, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decrypt(ctx, msg, nil); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("foreign message: %v", err)
	}
}

func TestWithSize(t *testing.T) {
	ctx := context.Background()
	c, _, key := newClient(t)
	var out bytes.Buffer
	w, err := c.NewEncryptingWriter(ctx, &out, key, nil, encrypt.WithSize(10))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data(6)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data(5)); !errors.Is(err, encrypt.ErrSizeExceeded) {
		t.Fatalf("past the declared size: %v", err)
	}
	if _, err := w.Write(data(1)); !errors.Is(err, encrypt.ErrSizeExceeded) {
		t.Fatalf("after ErrSizeExceeded: %v", err)
	}
	if err := w.Close(); !errors.Is(err, encrypt.ErrSizeExceeded) {
		t.Fatalf("Close after ErrSizeExceeded: %v; the message must not be completed", err)
	}
	w2, _ := c.NewEncryptingWriter(ctx, io.Discard, key, nil, encrypt.WithSize(10))
	if _, err := io.Copy(w2, strings.NewReader("0123456789A")); !errors.Is(err, encrypt.ErrSizeExceeded) {
		t.Fatalf("ReadFrom past the declared size: %v", err)
	}
	if _, err := c.NewEncryptingWriter(ctx, io.Discard, key, nil, encrypt.WithSize(-2)); err == nil {
		t.Fatal("negative size accepted")
	}
}

func TestOptionsValidated(t *testing.T) {
	kms := encrypttest.NewKMS()
	for name, o := range map[string]encrypt.Option{
		"frame 0":         encrypt.WithFrameSize(0),
		"frame too big":   encrypt.WithFrameSize(message.MaxFrameSize + 1),
		"no max age":      encrypt.WithCache(encrypt.CacheConfig{}),
		"age too long":    encrypt.WithCache(encrypt.CacheConfig{MaxAge: 25 * time.Hour}),
		"messages > 2^32": encrypt.WithCache(encrypt.CacheConfig{MaxAge: time.Minute, MaxMessages: 1<<32 + 1}),
	} {
		if _, err := encrypt.New(kms, o); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Many goroutines share one caching client; run with -race.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	c, kms, key := newClient(t, encrypt.WithCache(encrypt.CacheConfig{MaxAge: time.Minute, MaxMessages: 10}))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				pt := data(g*100 + i)
				msg, err := c.Encrypt(ctx, key, pt, map[string]string{"g": string(rune('a' + g%2))})
				if err == nil {
					var got []byte
					got, err = c.Decrypt(ctx, msg, nil)
					if err == nil && !bytes.Equal(got, pt) {
						err = errors.New("wrong plaintext")
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// 160 messages in two contexts, 10 per data key: at least 16 keys.
	if n := kms.Calls("GenerateDataKey"); n < 16 || n > 160 {
		t.Fatalf("GenerateDataKey called %d times", n)
	}
}

func TestDecryptKey(t *testing.T) {
	ctx := context.Background()
	kms := encrypttest.NewKMS()
	key, other := kms.CreateKey(), kms.CreateKey()
	c, _ := encrypt.New(kms)
	msg, err := c.Encrypt(ctx, key, []byte("x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{key, key[strings.LastIndex(key, "/")+1:]} {
		strict, _ := encrypt.New(kms, encrypt.WithDecryptKey(k))
		if got, err := strict.Decrypt(ctx, msg, nil); err != nil || string(got) != "x" {
			t.Fatalf("WithDecryptKey(%s): %v", k, err)
		}
	}
	strict, _ := encrypt.New(kms, encrypt.WithDecryptKey(other))
	if _, err := strict.Decrypt(ctx, msg, nil); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "IncorrectKeyException") {
		t.Fatalf("message under another key: %v, want IncorrectKeyException", err)
	}
}
