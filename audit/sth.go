package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// headMagic is the first line of every encoded tree head.
const headMagic = "kmsd audit tree head v1"

// TreeHead is a statement about the log: its first Size records hash to Root
// at Timestamp. PrevSize is the Size of the head signed before this one (0 for
// the first head); it chains the heads, so an auditor notices a head that was
// removed from an export.
type TreeHead struct {
	Size      uint64
	Root      Hash
	Timestamp time.Time
	PrevSize  uint64
}

// Marshal returns the signed text of h, five lines each ending in "\n":
//
//	kmsd audit tree head v1
//	<size, decimal>
//	<root, standard base64>
//	<timestamp, Unix milliseconds, decimal>
//	<previous head size, decimal>
func (h TreeHead) Marshal() []byte {
	return fmt.Appendf(nil, "%s\n%d\n%s\n%d\n%d\n",
		headMagic, h.Size, h.Root, h.Timestamp.UnixMilli(), h.PrevSize)
}

// ParseTreeHead decodes the text written by Marshal. It accepts exactly the
// bytes Marshal would write, so one head has one encoding.
func ParseTreeHead(b []byte) (TreeHead, error) {
	lines := strings.Split(string(b), "\n")
	if len(b) > 256 || len(lines) != 6 || lines[0] != headMagic || lines[5] != "" {
		return TreeHead{}, fmt.Errorf("%w: bad layout", ErrMalformedHead)
	}
	size, err1 := strconv.ParseUint(lines[1], 10, 63)
	root, err2 := base64.StdEncoding.DecodeString(lines[2])
	ms, err3 := strconv.ParseInt(lines[3], 10, 64)
	prev, err4 := strconv.ParseUint(lines[4], 10, 63)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || len(root) != len(Hash{}) {
		return TreeHead{}, fmt.Errorf("%w: bad field", ErrMalformedHead)
	}
	h := TreeHead{Size: size, Timestamp: time.UnixMilli(ms).UTC(), PrevSize: prev}
	copy(h.Root[:], root)
	if !bytes.Equal(h.Marshal(), b) || h.check() != nil {
		return TreeHead{}, fmt.Errorf("%w: not in canonical form", ErrMalformedHead)
	}
	return h, nil
}

// check enforces the invariants every head must satisfy.
func (h TreeHead) check() error {
	if h.Size > math.MaxInt64 || h.PrevSize > h.Size {
		return fmt.Errorf("%w: size %d, previous size %d", ErrMalformedHead, h.Size, h.PrevSize)
	}
	if h.Timestamp.UnixMilli() < 0 {
		return fmt.Errorf("%w: timestamp before 1970", ErrMalformedHead)
	}
	return nil
}

// KeyID names a tree head signing key: the first 8 bytes of SHA-256 of the
// Ed25519 public key.
type KeyID [8]byte

// KeyIDOf returns the KeyID of pub.
func KeyIDOf(pub ed25519.PublicKey) KeyID {
	sum := sha256.Sum256(pub)
	return KeyID(sum[:8])
}

// SignedTreeHead is a TreeHead with an Ed25519 signature over its Marshal
// encoding and the KeyID of the signing key.
//
// Leaves optionally carries the leaf hashes of records [Head.PrevSize,
// Head.Size). They are not signed but are bound by Head.Root, so an attacker
// cannot change them undetected; VerifyLog uses them to name exactly the
// first altered record.
type SignedTreeHead struct {
	Head      TreeHead
	KeyID     KeyID
	Signature []byte
	Leaves    []Hash
}

// Sign signs h with priv. The timestamp is truncated to milliseconds and
// converted to UTC, as it will read after verification.
func Sign(priv ed25519.PrivateKey, h TreeHead) (SignedTreeHead, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return SignedTreeHead{}, fmt.Errorf("audit: bad Ed25519 private key length %d", len(priv))
	}
	h.Timestamp = time.UnixMilli(h.Timestamp.UnixMilli()).UTC()
	if err := h.check(); err != nil {
		return SignedTreeHead{}, err
	}
	pub := priv.Public().(ed25519.PublicKey)
	return SignedTreeHead{Head: h, KeyID: KeyIDOf(pub), Signature: ed25519.Sign(priv, h.Marshal())}, nil
}

// VerifySignedTreeHead checks sth against pub and returns the head as signed.
// It returns an error wrapping ErrUnknownKey if sth names another key,
// ErrBadSignature if the signature does not verify, and ErrMalformedHead if
// the signed head breaks an invariant.
func VerifySignedTreeHead(pub ed25519.PublicKey, sth SignedTreeHead) (TreeHead, error) {
	if len(pub) != ed25519.PublicKeySize {
		return TreeHead{}, fmt.Errorf("audit: bad Ed25519 public key length %d", len(pub))
	}
	if id := KeyIDOf(pub); !equalKeyID(id, sth.KeyID) {
		return TreeHead{}, fmt.Errorf("%w: head names key %x, verifying with %x", ErrUnknownKey, sth.KeyID, id)
	}
	msg := sth.Head.Marshal()
	if !ed25519.Verify(pub, msg, sth.Signature) {
		return TreeHead{}, ErrBadSignature
	}
	return ParseTreeHead(msg)
}

// equalKeyID compares key IDs through the package's constant-time helper style.
func equalKeyID(a, b KeyID) bool { return subtle.ConstantTimeCompare(a[:], b[:]) == 1 }
