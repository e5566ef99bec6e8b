package server

import (
	"sync"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
)

// material is a key version's unwrapped material, ready for use.
type material struct {
	keyID      envelope.KeyID
	materialID envelope.MaterialID
	key        envelope.Key
	// materialKey is the material id as stored (hex), for usage counts.
	materialKey string
}

type materialKey struct {
	keyID      string
	materialID string
}

// materialCache keeps unwrapped key material in memory so that crypto calls
// unwrap each version once, not once per call. It is bounded: when full it
// starts over, and keys that no longer exist are dropped by prune.
type materialCache struct {
	root envelope.Key
	mu   sync.RWMutex
	m    map[materialKey]*material
}

// maxCachedMaterials bounds the cache.
const maxCachedMaterials = 1 << 17

func newMaterialCache(root envelope.Key) *materialCache {
	return &materialCache{root: root, m: make(map[materialKey]*material)}
}

// wrapAAD binds a wrapped version to its key and material id, so that a
// wrapped blob copied onto another key or version does not unwrap.
func wrapAAD(keyID envelope.KeyID, materialID envelope.MaterialID) []byte {
	aad := make([]byte, 0, 12+len(keyID)+len(materialID))
	aad = append(aad, "kmsd/v1/wrap"...)
	aad = append(aad, keyID[:]...)
	return append(aad, materialID[:]...)
}

// get returns the unwrapped material of version v of key k.
func (c *materialCache) get(k *keystore.Key, v keystore.Version) (*material, error) {
	mk := materialKey{keyID: k.ID, materialID: v.MaterialID}
	c.mu.RLock()
	m, ok := c.m[mk]
	c.mu.RUnlock()
	if ok {
		return m, nil
	}
	m, err := unwrapVersion(c.root, k.ID, v)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= maxCachedMaterials {
		c.m = make(map[materialKey]*material)
	}
	c.m[mk] = m
	c.mu.Unlock()
	return m, nil
}

// prune drops cached material for which keep reports false: material of
// deleted keys, and imported material that was deleted or expired.
func (c *materialCache) prune(keep func(keyID, materialID string) bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for mk := range c.m {
		if !keep(mk.keyID, mk.materialID) {
			delete(c.m, mk)
		}
	}
}

func unwrapVersion(root envelope.Key, keyID string, v keystore.Version) (*material, error) {
	kid, err := envelope.ParseKeyID(keyID)
	if err != nil {
		return nil, err
	}
	mid, err := envelope.ParseMaterialID(v.MaterialID)
	if err != nil {
		return nil, err
	}
	key, err := envelope.UnwrapKey(root, v.Wrapped, wrapAAD(kid, mid))
	if err != nil {
		return nil, errCorruptMaterial
	}
	if key.MaterialID() != mid {
		return nil, errCorruptMaterial
	}
	return &material{keyID: kid, materialID: mid, key: key, materialKey: v.MaterialID}, nil
}

// newVersion generates fresh material and returns it wrapped for storage.
func (s *Server) newVersion(kid envelope.KeyID) (keystore.Version, error) {
	key, err := envelope.GenerateKey(s.rand)
	if err != nil {
		return keystore.Version{}, err
	}
	mid := key.MaterialID()
	wrapped, err := envelope.WrapKey(s.rand, s.rootKey, key, wrapAAD(kid, mid))
	if err != nil {
		return keystore.Version{}, err
	}
	return keystore.Version{MaterialID: mid.String(), Wrapped: wrapped, CreationDate: s.now().UTC()}, nil
}
