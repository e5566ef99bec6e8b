package server

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
)

// Grant tokens. CreateGrant answers a grant token with the grant id. In
// AWS KMS a grant takes a while to reach every host, and a grant token
// passed in GrantTokens makes it effective before then. In kmsd a grant is
// replicated through the Raft log before CreateGrant returns, and every
// member's read barrier makes later calls see it, so a grant is effective
// everywhere at once and a token adds nothing to authorization: crypto
// calls accept GrantTokens (at most 10, each a token CreateGrant made) and
// ignore them. RetireGrant takes a token to name the grant it retires.
//
// A token is the base64url encoding (no padding) of
//
//	version (1 byte, 1) || key id (16 bytes) || grant id (32 bytes) ||
//	nonce (16 bytes) || HMAC-SHA256 of the preceding bytes (32 bytes)
//
// under a key derived from the root key, so that RetireGrant trusts only
// tokens this service made. Each CreateGrant call makes a new token, even
// when it returns an existing grant (as AWS does). Tokens are never
// recorded in the audit log.

const (
	grantTokenVersion = 1
	grantTokenBytes   = 1 + 16 + 32 + 16 + 32
	grantTokenInfo    = "kmsd grant token v1"
	excInvalidToken   = "InvalidGrantTokenException"
	excInvalidGrantID = "InvalidGrantIdException"
)

var errInvalidGrantToken = &apiError{code: codes.InvalidArgument, name: excInvalidToken, message: "The grant token is not valid."}

func (s *Server) grantTokenMAC(b []byte) []byte {
	k, err := hkdf.Key(sha256.New, s.rootKey.Bytes(), nil, grantTokenInfo, 32)
	if err != nil {
		panic("server: grant token key: " + err.Error()) // HKDF of 32 bytes cannot fail
	}
	m := hmac.New(sha256.New, k)
	m.Write(b)
	return m.Sum(nil)
}

// newGrantToken makes a token for a grant.
func (s *Server) newGrantToken(keyID, grantID string) (string, error) {
	kid, err := envelope.ParseKeyID(keyID)
	if err != nil {
		return "", err
	}
	gid, err := hex.DecodeString(grantID)
	if err != nil || len(gid) != 32 {
		return "", errInvalidGrantToken
	}
	b := make([]byte, 0, grantTokenBytes)
	b = append(b, grantTokenVersion)
	b = append(b, kid[:]...)
	b = append(b, gid...)
	nonce := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, nonce); err != nil {
		return "", err
	}
	b = append(b, nonce...)
	b = append(b, s.grantTokenMAC(b)...)
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// parseGrantToken returns the key and grant a token names, if its MAC
// verifies.
func (s *Server) parseGrantToken(tok string) (keyID, grantID string, err error) {
	b, ok := decodeGrantToken(tok)
	if !ok {
		return "", "", errInvalidGrantToken
	}
	n := grantTokenBytes - 32
	if !hmac.Equal(b[n:], s.grantTokenMAC(b[:n])) {
		return "", "", errInvalidGrantToken
	}
	var kid envelope.KeyID
	copy(kid[:], b[1:17])
	return kid.String(), hex.EncodeToString(b[17:49]), nil
}

func decodeGrantToken(tok string) ([]byte, bool) {
	if len(tok) != base64.RawURLEncoding.EncodedLen(grantTokenBytes) {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != grantTokenBytes || b[0] != grantTokenVersion {
		return nil, false
	}
	return b, true
}

// validGrantTokenFormat reports whether tok has the form of a token
// CreateGrant makes (its MAC is not checked).
func validGrantTokenFormat(tok string) bool {
	_, ok := decodeGrantToken(tok)
	return ok
}
