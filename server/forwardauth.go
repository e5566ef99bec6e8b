package server

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
)

// forwardAuthInfo separates the forwarding key from every other use of the
// root key.
const forwardAuthInfo = "kmsd cluster forwarding v1"

// ForwardAuth authenticates commands that followers forward to the leader
// with HMAC-SHA256 under a key derived from the root key, which every
// member holds and nothing outside the cluster does.
type ForwardAuth struct {
	key []byte
}

var _ cluster.Authenticator = (*ForwardAuth)(nil)

// NewForwardAuth derives the forwarding key from the root key.
func NewForwardAuth(root envelope.Key) (*ForwardAuth, error) {
	k, err := hkdf.Key(sha256.New, root.Bytes(), nil, forwardAuthInfo, 32)
	if err != nil {
		return nil, err
	}
	return &ForwardAuth{key: k}, nil
}

// MAC returns HMAC-SHA256(key, msg).
func (a *ForwardAuth) MAC(msg []byte) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write(msg)
	return m.Sum(nil)
}

// Verify checks mac in constant time.
func (a *ForwardAuth) Verify(msg, mac []byte) bool {
	return hmac.Equal(a.MAC(msg), mac)
}

// String keeps the key out of logs and error messages.
func (a *ForwardAuth) String() string { return "ForwardAuth{[REDACTED]}" }
