package server

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/kmsd/kmsd/envelope"
)

// TestRootKeyReady: a member is ready with the root key its cluster's
// material is wrapped under, and not with another root key or none.
func TestRootKeyReady(t *testing.T) {
	h := newHarness(t)
	if err := h.srv.RootKeyReady(); err != nil {
		t.Fatalf("empty store: %v", err)
	}
	h.createKey(t)
	if err := h.srv.RootKeyReady(); err != nil {
		t.Fatalf("the cluster's root key: %v", err)
	}
	other, err := envelope.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		root envelope.Key
		want error
	}{
		"another root key": {other, ErrRootKeyMismatch},
		"no root key":      {envelope.Key{}, ErrNoRootKey},
	} {
		s, err := New(Config{Store: h.store, Proposer: h.prop, RootKey: c.root, DisableAudit: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RootKeyReady(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}
