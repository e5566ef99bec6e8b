package server

import (
	"errors"

	"github.com/kmsd/kmsd/envelope"
)

// Readiness errors of RootKeyReady.
var (
	// ErrNoRootKey: the server was given no root key.
	ErrNoRootKey = errors.New("server: no root key")
	// ErrRootKeyMismatch: the root key does not unwrap what the cluster
	// stored under its root key; this member was started with another.
	ErrRootKeyMismatch = errors.New("server: the root key is not the cluster's (it does not unwrap the stored keys)")
)

// RootKeyReady reports whether this member holds the cluster's root key:
// it is set, and it unwraps the audit log's signing key or, before there
// is one, the newest material of the first key, if any. A member that
// fails it cannot answer cryptographic calls; kmsd reports it not ready
// (gRPC health NOT_SERVING, /readyz 503). Once it passes, it is not
// checked again.
func (s *Server) RootKeyReady() error {
	if s.rootReady.Load() {
		return nil
	}
	if !hasKey(s.rootKey) {
		return ErrNoRootKey
	}
	checked := false
	if s.audit != nil {
		if lk, ok := s.audit.store.GetLogKey(); ok {
			if _, err := envelope.UnwrapKey(s.rootKey, lk.WrappedSeed, auditKeyAAD); err != nil {
				return ErrRootKeyMismatch
			}
			checked = true
		}
	}
	if !checked {
		keys, _, err := s.store.Keys(1, "")
		if err != nil {
			return err
		}
		for _, k := range keys {
			for i := len(k.Versions) - 1; i >= 0; i-- {
				if v := k.Versions[i]; !v.Deleted() {
					if _, err := unwrapVersion(s.rootKey, k.ID, v); err != nil {
						return ErrRootKeyMismatch
					}
					checked = true
					break
				}
			}
		}
	}
	if checked {
		s.rootReady.Store(true)
	}
	return nil
}

// hasKey reports whether k holds key material (the zero Key does not).
func hasKey(k envelope.Key) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	k.MaterialID()
	return true
}
