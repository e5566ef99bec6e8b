package encrypt

import (
	"container/list"
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/envelope/message"
)

// CacheConfig limits the reuse of data keys. MaxAge is required; a zero
// MaxMessages or MaxBytes means the default.
type CacheConfig struct {
	// MaxAge is how long a data key is used after kmsd made or decrypted
	// it (required, at most 24 hours).
	MaxAge time.Duration
	// MaxMessages is how many messages one data key encrypts, at most
	// 2^32 (the default).
	MaxMessages uint64
	// MaxBytes is how many bytes of plaintext one data key encrypts in
	// all. Default: no limit. With a limit, an EncryptingWriter uses the
	// cache only if told the size (WithSize).
	MaxBytes uint64
	// Capacity is how many data keys are kept (default 100); the least
	// recently used goes first.
	Capacity int
}

// Limits of CacheConfig.
const (
	maxCacheMessages = 1 << 32
	maxCacheAge      = 24 * time.Hour
	defaultCapacity  = 100
)

// Cache keeps data keys for reuse, within the limits of its CacheConfig.
// A key is handed out only for exactly the key id and encryption context
// (for decryption: the wrapped key, key and context) it was made for.
// Keys are cleared from memory when they leave the cache, on a
// best-effort basis (Go may have copied them). Safe for concurrent use.
type Cache struct {
	cfg CacheConfig
	now func() time.Time

	mu      sync.Mutex
	entries map[string]*list.Element // of *cacheEntry
	lru     list.List                // front: most recently used
}

type cacheEntry struct {
	id       string
	dk       dataKey
	created  time.Time
	messages uint64
	bytes    uint64
}

// NewCache checks cfg and returns an empty cache.
func NewCache(cfg CacheConfig) (*Cache, error) {
	switch {
	case cfg.MaxAge <= 0 || cfg.MaxAge > maxCacheAge:
		return nil, fmt.Errorf("encrypt: cache MaxAge %v is not between 0 and %v", cfg.MaxAge, maxCacheAge)
	case cfg.MaxMessages > maxCacheMessages:
		return nil, fmt.Errorf("encrypt: cache MaxMessages %d is above 2^32", cfg.MaxMessages)
	case cfg.Capacity < 0:
		return nil, fmt.Errorf("encrypt: cache Capacity %d is negative", cfg.Capacity)
	}
	if cfg.MaxMessages == 0 {
		cfg.MaxMessages = maxCacheMessages
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = math.MaxUint64
	}
	if cfg.Capacity == 0 {
		cfg.Capacity = defaultCapacity
	}
	return &Cache{cfg: cfg, now: time.Now, entries: map[string]*list.Element{}}, nil
}

// encryptCacheKey names the data keys of one key id and context.
func encryptCacheKey(keyID string, ec map[string]string) string {
	enc, _ := envelope.EncodeContext(ec) // validated by the caller
	b := append([]byte{'e'}, binary.BigEndian.AppendUint32(nil, uint32(len(keyID)))...)
	return string(append(append(b, keyID...), enc...))
}

// decryptCacheKey names the data key of one wrapped key, key id, context
// and required key (WithDecryptKey).
func decryptCacheKey(h *message.Header, required string) string {
	enc, _ := envelope.EncodeContext(h.EncryptionContext)
	b := []byte{'d'}
	for _, f := range [][]byte{[]byte(h.KeyID), []byte(required), h.WrappedKey} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return string(append(b, enc...))
}

// getEncrypt returns a copy of a data key for one more message of size
// bytes (-1: unknown), counting the use; an entry used up is evicted.
func (c *Cache) getEncrypt(id string, size int64) (dataKey, bool) {
	if size < 0 && c.cfg.MaxBytes != math.MaxUint64 {
		return dataKey{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.lookup(id)
	if e == nil {
		return dataKey{}, false
	}
	n := uint64(max(size, 0))
	if e.messages >= c.cfg.MaxMessages || n > c.cfg.MaxBytes-e.bytes {
		c.evict(id)
		return dataKey{}, false
	}
	e.messages++
	e.bytes += n
	dk := e.dk
	if e.messages >= c.cfg.MaxMessages || e.bytes >= c.cfg.MaxBytes {
		c.evict(id)
	}
	return dk, true
}

// putEncrypt keeps a data key that has just encrypted one message of size
// bytes, if it may encrypt more.
func (c *Cache) putEncrypt(id string, dk dataKey, size int64) {
	n := uint64(max(size, 0))
	if c.cfg.MaxMessages <= 1 || n >= c.cfg.MaxBytes || (size < 0 && c.cfg.MaxBytes != math.MaxUint64) {
		return
	}
	c.put(&cacheEntry{id: id, dk: dk, messages: 1, bytes: n})
}

// getDecrypt returns a copy of a data key decrypted earlier.
func (c *Cache) getDecrypt(id string) (dataKey, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.lookup(id); e != nil {
		return e.dk, true
	}
	return dataKey{}, false
}

// putDecrypt keeps a data key kmsd has just decrypted.
func (c *Cache) putDecrypt(id string, dk dataKey) { c.put(&cacheEntry{id: id, dk: dk}) }

func (c *Cache) put(e *cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e.created = c.now()
	c.evict(e.id)
	c.entries[e.id] = c.lru.PushFront(e)
	for c.lru.Len() > c.cfg.Capacity {
		c.evict(c.lru.Back().Value.(*cacheEntry).id)
	}
}

// lookup returns the live entry id, moved to the front, after evicting
// every entry past its age. c.mu is held.
func (c *Cache) lookup(id string) *cacheEntry {
	now := c.now()
	for el := c.lru.Back(); el != nil; {
		prev := el.Prev()
		if e := el.Value.(*cacheEntry); now.Sub(e.created) >= c.cfg.MaxAge || now.Before(e.created) {
			c.evict(e.id)
		}
		el = prev
	}
	el, ok := c.entries[id]
	if !ok {
		return nil
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cacheEntry)
}

// evict removes an entry and clears its key. c.mu is held.
func (c *Cache) evict(id string) {
	if el, ok := c.entries[id]; ok {
		e := c.lru.Remove(el).(*cacheEntry)
		delete(c.entries, id)
		clear(e.dk.key[:])
	}
}

// Len is the number of data keys in the cache.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Clear evicts every data key.
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.entries {
		c.evict(id)
	}
}
