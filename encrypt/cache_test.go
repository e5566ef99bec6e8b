package encrypt

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/encrypt/encrypttest"
	"github.com/kmsd/kmsd/envelope/message"
)

type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func cachingClient(t *testing.T, cfg CacheConfig) (*Client, *encrypttest.KMS, *testClock, string) {
	t.Helper()
	kms := encrypttest.NewKMS()
	var opts []Option
	if cfg.MaxAge != 0 {
		opts = append(opts, WithCache(cfg))
	}
	c, err := New(kms, opts...)
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Unix(1_800_000_000, 0)}
	if c.cache != nil {
		c.cache.now = clock.now
	}
	return c, kms, clock, kms.CreateKey()
}

// wrappedKeys encrypts n messages of size bytes each and returns the
// wrapped data key of each.
func wrappedKeys(t *testing.T, c *Client, key string, ec map[string]string, n, size int) []string {
	t.Helper()
	var out []string
	for range n {
		msg, err := c.Encrypt(context.Background(), key, make([]byte, size), ec)
		if err != nil {
			t.Fatal(err)
		}
		h, err := message.ReadHeader(bytes.NewReader(msg))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(h.WrappedKey))
		if _, err := c.Decrypt(context.Background(), msg, ec); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// groups returns the lengths of the runs of equal values.
func groups(keys []string) []int {
	var g []int
	for i, k := range keys {
		if i == 0 || k != keys[i-1] {
			g = append(g, 0)
		}
		g[len(g)-1]++
	}
	return g
}

func TestCacheOffByDefault(t *testing.T) {
	c, kms, _, key := cachingClient(t, CacheConfig{})
	keys := wrappedKeys(t, c, key, nil, 3, 10)
	if g := groups(keys); len(g) != 3 || kms.Calls("GenerateDataKey") != 3 || kms.Calls("Decrypt") != 3 {
		t.Fatalf("without a cache: key runs %v, %d GenerateDataKey, %d Decrypt", g, kms.Calls("GenerateDataKey"), kms.Calls("Decrypt"))
	}
}

func TestCacheLimits(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  CacheConfig
		n    int
		size int
		want []int // messages per data key
	}{
		{"3 messages", CacheConfig{MaxAge: time.Hour, MaxMessages: 3}, 7, 10, []int{3, 3, 1}},
		{"1 message", CacheConfig{MaxAge: time.Hour, MaxMessages: 1}, 3, 10, []int{1, 1, 1}},
		{"100 bytes", CacheConfig{MaxAge: time.Hour, MaxBytes: 100}, 6, 40, []int{2, 2, 2}},
		{"exactly 100 bytes", CacheConfig{MaxAge: time.Hour, MaxBytes: 100}, 4, 50, []int{2, 2}},
		{"larger than the limit", CacheConfig{MaxAge: time.Hour, MaxBytes: 100}, 2, 101, []int{1, 1}},
		{"both", CacheConfig{MaxAge: time.Hour, MaxMessages: 2, MaxBytes: 1000}, 5, 10, []int{2, 2, 1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl, kms, _, key := cachingClient(t, c.cfg)
			keys := wrappedKeys(t, cl, key, map[string]string{"k": "v"}, c.n, c.size)
			if g := groups(keys); !equalInts(g, c.want) {
				t.Fatalf("messages per data key %v, want %v", g, c.want)
			}
			if kms.Calls("GenerateDataKey") != len(c.want) {
				t.Fatalf("%d GenerateDataKey calls for %d data keys", kms.Calls("GenerateDataKey"), len(c.want))
			}
			// Each distinct wrapped key was decrypted by kmsd once.
			if kms.Calls("Decrypt") != len(c.want) {
				t.Fatalf("%d Decrypt calls for %d data keys", kms.Calls("Decrypt"), len(c.want))
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestCacheMaxAge(t *testing.T) {
	c, kms, clock, key := cachingClient(t, CacheConfig{MaxAge: time.Minute})
	a := wrappedKeys(t, c, key, nil, 2, 10)
	clock.advance(59 * time.Second)
	b := wrappedKeys(t, c, key, nil, 1, 10)
	clock.advance(time.Second)
	d := wrappedKeys(t, c, key, nil, 1, 10)
	if a[0] != a[1] || b[0] != a[0] || d[0] == a[0] {
		t.Fatal("a data key was not reused within MaxAge, or was reused after it")
	}
	if kms.Calls("GenerateDataKey") != 2 || kms.Calls("Decrypt") != 2 {
		t.Fatalf("%d GenerateDataKey, %d Decrypt; want 2 and 2", kms.Calls("GenerateDataKey"), kms.Calls("Decrypt"))
	}
	// A clock that goes back does not extend a key's life.
	clock.advance(-time.Hour)
	if e := wrappedKeys(t, c, key, nil, 1, 10); e[0] == d[0] {
		t.Fatal("reused after the clock went back")
	}
}

func TestCacheNeverCrossesContextsOrKeys(t *testing.T) {
	c, kms, _, key := cachingClient(t, CacheConfig{MaxAge: time.Hour})
	key2 := kms.CreateKey()
	seen := map[string]int{}
	for i, p := range []struct {
		key string
		ec  map[string]string
	}{
		{key, nil}, {key, map[string]string{"ab": "c"}}, {key, map[string]string{"a": "bc"}},
		{key, map[string]string{"a": "b", "c": "d"}}, {key, map[string]string{"a": "b"}}, {key2, nil},
		{key2, map[string]string{"ab": "c"}},
	} {
		for range 2 {
			w := wrappedKeys(t, c, p.key, p.ec, 1, 5)[0]
			if prev, ok := seen[w]; ok && prev != i {
				t.Fatalf("data key of case %d reused for case %d", prev, i)
			}
			seen[w] = i
		}
	}
	if n := kms.Calls("GenerateDataKey"); n != 7 {
		t.Fatalf("%d GenerateDataKey calls, want 7 (one per key id and context)", n)
	}
}

func TestCacheStreamingSize(t *testing.T) {
	ctx := context.Background()
	c, kms, _, key := cachingClient(t, CacheConfig{MaxAge: time.Hour, MaxBytes: 1000})
	for range 3 { // unknown size and a byte limit: no reuse
		w, err := c.NewEncryptingWriter(ctx, io.Discard, key, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, 10))
		w.Close()
	}
	if kms.Calls("GenerateDataKey") != 3 || c.cache.Len() != 0 {
		t.Fatalf("unknown sizes: %d calls, %d cached", kms.Calls("GenerateDataKey"), c.cache.Len())
	}
	for range 3 { // declared sizes: reuse
		w, err := c.NewEncryptingWriter(ctx, io.Discard, key, nil, WithSize(10))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(make([]byte, 10))
		w.Close()
	}
	if kms.Calls("GenerateDataKey") != 4 {
		t.Fatalf("declared sizes: %d calls, want 4", kms.Calls("GenerateDataKey"))
	}
}

func TestCacheClearsEvictedKeys(t *testing.T) {
	c, _, clock, key := cachingClient(t, CacheConfig{MaxAge: time.Minute, MaxMessages: 2, Capacity: 2})
	entry := func(id string) *cacheEntry {
		c.cache.mu.Lock()
		defer c.cache.mu.Unlock()
		if el, ok := c.cache.entries[id]; ok {
			return el.Value.(*cacheEntry)
		}
		return nil
	}
	zero := func(e *cacheEntry) bool { return e.dk.key == [32]byte{} }
	ecA := map[string]string{"n": "a"}
	wrappedKeys(t, c, key, ecA, 1, 1)
	a := entry(encryptCacheKey(key, ecA))
	if a == nil || zero(a) {
		t.Fatal("no live entry after one message")
	}
	wrappedKeys(t, c, key, ecA, 1, 1) // the second and last use
	if !zero(a) || entry(encryptCacheKey(key, ecA)) != nil {
		t.Fatal("a used-up key was not evicted and cleared")
	}
	// Capacity: the least recently used goes, cleared.
	for _, n := range []string{"b", "c", "d"} {
		wrappedKeys(t, c, key, map[string]string{"n": n}, 1, 1)
	}
	if c.cache.Len() != 2 {
		t.Fatalf("%d entries, capacity 2", c.cache.Len())
	}
	// Age, then Clear.
	e := entry(encryptCacheKey(key, map[string]string{"n": "d"}))
	clock.advance(time.Minute)
	c.cache.getDecrypt("nothing")
	if e == nil || !zero(e) || c.cache.Len() != 0 {
		t.Fatal("expired keys were not evicted and cleared")
	}
	wrappedKeys(t, c, key, ecA, 1, 1)
	e = entry(encryptCacheKey(key, ecA))
	c.Close()
	if !zero(e) || c.cache.Len() != 0 {
		t.Fatal("Close left a key")
	}
}
