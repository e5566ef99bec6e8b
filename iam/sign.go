package iam

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Signed requests. A gRPC caller proves that it holds an access key's
// secret without sending it: every request carries an Authorization value
// with an HMAC-SHA256 signature over the method, the time and a hash of
// the request message, in the manner of AWS Signature Version 4:
//
//	Authorization: KMSD1-HMAC-SHA256 Credential=AKID/20260301, Signature=HEX
//	X-Kmsd-Date:   20260301T120000Z
//	X-Kmsd-Security-Token: TOKEN          (temporary credentials only)
//
// The string signed is
//
//	KMSD1-HMAC-SHA256 \n DATE \n METHOD \n hex(SHA-256(message)) \n hex(SHA-256(token))
//
// where METHOD is the full gRPC method ("/kms.v1.KeyManagementService/Encrypt"),
// message is the request's deterministic protobuf encoding, and token is
// empty without a session token. The signing key is derived from the secret
// for the day (DeriveSigningKey), so a verifier can keep derived keys rather
// than secrets in its caches. A request is accepted only within MaxSkew of
// the verifier's clock: a captured request cannot be replayed later than
// that, and it cannot be altered (another method, another message) at all.

// SigningAlgorithm names the scheme in the Authorization value.
const SigningAlgorithm = "KMSD1-HMAC-SHA256"

// Metadata keys of a signed request (gRPC metadata keys are lower case).
const (
	HeaderAuthorization = "authorization"
	HeaderDate          = "x-kmsd-date"
	HeaderSecurityToken = "x-kmsd-security-token"
)

// MaxSkew is how far a request's time may be from the verifier's clock.
const MaxSkew = 5 * time.Minute

const dateFormat = "20060102T150405Z"

// Errors of VerifyRequest and ParseAuthorization. They say what is wrong
// with a request, never anything about the secret.
var (
	ErrMissingAuthentication = errors.New("iam: the request is not signed")
	ErrMalformedSignature    = errors.New("iam: the request's signature is malformed")
	ErrSignatureMismatch     = errors.New("iam: the request signature does not match")
	ErrRequestExpired        = errors.New("iam: the request's time is too far from the server's clock")
)

// SignedRequest is the parsed authentication of a request.
type SignedRequest struct {
	AccessKeyID string
	// Day is the credential scope (YYYYMMDD), which must be Time's day.
	Day  string
	Time time.Time
	// Date is the date value as sent (what was signed); empty: Time's.
	Date      string
	Signature []byte
	Token     string
}

// DeriveSigningKey returns the key that signs the requests of one day
// (YYYYMMDD) with secret.
func DeriveSigningKey(secret, day string) []byte {
	k := hmacSHA256([]byte("KMSD1"+secret), []byte(day))
	return hmacSHA256(k, []byte("kmsd1_request"))
}

// hmacSHA256 is RFC 2104 HMAC-SHA256 written out over stack buffers (for
// messages up to hmacInline bytes): crypto/hmac allocates two digests per
// call, and every signed call computes three of these. Tests check it
// against crypto/hmac.
func hmacSHA256(key, msg []byte) []byte {
	var k [sha256.BlockSize]byte
	if len(key) > sha256.BlockSize {
		h := sha256.Sum256(key)
		copy(k[:], h[:])
	} else {
		copy(k[:], key)
	}
	var buf [sha256.BlockSize + hmacInline]byte
	in := buf[:]
	if len(msg) > hmacInline {
		in = make([]byte, sha256.BlockSize+len(msg))
	}
	in = in[:sha256.BlockSize+len(msg)]
	for i := range k {
		in[i] = k[i] ^ 0x36
	}
	copy(in[sha256.BlockSize:], msg)
	inner := sha256.Sum256(in)
	var out [sha256.BlockSize + sha256.Size]byte
	for i := range k {
		out[i] = k[i] ^ 0x5c
	}
	copy(out[sha256.BlockSize:], inner[:])
	sum := sha256.Sum256(out[:])
	clear(k[:])
	clear(in[:sha256.BlockSize])
	clear(out[:sha256.BlockSize])
	return sum[:]
}

// hmacInline is the longest message hmacSHA256 takes without allocating:
// more than a string to sign needs.
const hmacInline = 512

func stringToSign(date, method string, message []byte, token string) []byte {
	mh := sha256.Sum256(message)
	th := sha256.Sum256([]byte(token))
	b := make([]byte, 0, len(SigningAlgorithm)+len(date)+len(method)+4*sha256.Size+4)
	b = append(b, SigningAlgorithm...)
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, '\n')
	b = append(b, method...)
	b = append(b, '\n')
	b = hex.AppendEncode(b, mh[:])
	b = append(b, '\n')
	return hex.AppendEncode(b, th[:])
}

// SignRequest returns the metadata that authenticates a call of method
// with the encoded message at time t, made with the access key
// (accessKeyID, secret) and, for temporary credentials, token.
func SignRequest(accessKeyID, secret, token, method string, message []byte, t time.Time) map[string]string {
	return SignRequestWithKey(accessKeyID, DeriveSigningKey(secret, t.UTC().Format("20060102")), token, method, message, t)
}

// SignRequestWithKey is SignRequest with the day's signing key already
// derived (DeriveSigningKey of the secret for t's day, in UTC), for a
// signer that keeps it.
func SignRequestWithKey(accessKeyID string, signingKey []byte, token, method string, message []byte, t time.Time) map[string]string {
	t = t.UTC()
	date, day := t.Format(dateFormat), t.Format("20060102")
	sig := hmacSHA256(signingKey, stringToSign(date, method, message, token))
	md := map[string]string{
		HeaderAuthorization: fmt.Sprintf("%s Credential=%s/%s, Signature=%s", SigningAlgorithm, accessKeyID, day, hex.EncodeToString(sig)),
		HeaderDate:          date,
	}
	if token != "" {
		md[HeaderSecurityToken] = token
	}
	return md
}

// ParseAuthorization reads a request's authentication from its metadata
// values (authorization, date, token; empty when absent). It checks the
// form only: VerifyRequest checks the signature.
func ParseAuthorization(authorization, date, token string) (SignedRequest, error) {
	if authorization == "" && date == "" {
		return SignedRequest{}, ErrMissingAuthentication
	}
	rest, ok := strings.CutPrefix(authorization, SigningAlgorithm+" ")
	if !ok || len(authorization) > 512 || len(token) > 4096 {
		return SignedRequest{}, fmt.Errorf("%w: not %s", ErrMalformedSignature, SigningAlgorithm)
	}
	cred, sig, ok := strings.Cut(rest, ", ")
	cred, ok1 := strings.CutPrefix(cred, "Credential=")
	sig, ok2 := strings.CutPrefix(sig, "Signature=")
	if !ok || !ok1 || !ok2 {
		return SignedRequest{}, fmt.Errorf("%w: want Credential=KEY/DAY, Signature=HEX", ErrMalformedSignature)
	}
	id, day, ok := strings.Cut(cred, "/")
	if !ok || id == "" || len(day) != 8 {
		return SignedRequest{}, fmt.Errorf("%w: bad credential scope", ErrMalformedSignature)
	}
	raw, err := hex.DecodeString(sig)
	if err != nil || len(raw) != sha256.Size {
		return SignedRequest{}, fmt.Errorf("%w: bad signature", ErrMalformedSignature)
	}
	t, err := time.Parse(dateFormat, date)
	if err != nil {
		return SignedRequest{}, fmt.Errorf("%w: bad %s", ErrMalformedSignature, HeaderDate)
	}
	if len(date) != len(dateFormat) || date[:len(day)] != day {
		return SignedRequest{}, fmt.Errorf("%w: the credential scope is not the request's day", ErrMalformedSignature)
	}
	return SignedRequest{AccessKeyID: id, Day: day, Time: t, Date: date, Signature: raw, Token: token}, nil
}

// VerifyRequest checks that r signs a call of method with the encoded
// message under signingKey (DeriveSigningKey of the access key's secret for
// r.Day), and that r.Time is within MaxSkew of now. The comparison takes
// the same time whatever the signature.
func VerifyRequest(r SignedRequest, signingKey []byte, method string, message []byte, now time.Time) error {
	date := r.Date
	if date == "" {
		date = r.Time.UTC().Format(dateFormat)
	}
	want := hmacSHA256(signingKey, stringToSign(date, method, message, r.Token))
	ok := hmac.Equal(want, r.Signature)
	if d := now.Sub(r.Time); d > MaxSkew || d < -MaxSkew {
		return ErrRequestExpired
	}
	if !ok {
		return ErrSignatureMismatch
	}
	return nil
}
