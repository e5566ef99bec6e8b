package awsapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 4 (header form). The Authorization header is
//
//	AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request,
//	    SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=HEX
//
// and the signature is HMAC-SHA256, under the key derived from the secret
// for the credential scope, of the string to sign
//
//	AWS4-HMAC-SHA256 \n X-AMZ-DATE \n SCOPE \n hex(SHA-256(canonical request))
//
// where the canonical request is the method, the canonical path, the
// canonical query, the signed headers as lower-case "name:value" lines
// (values trimmed, runs of spaces collapsed, repeated headers joined with
// ","), the signed header names, and hex(SHA-256(body)).

const (
	algorithm = "AWS4-HMAC-SHA256"
	// maxSkew is how far a request's X-Amz-Date may be from the clock.
	maxSkew    = 5 * time.Minute
	amzDateFmt = "20060102T150405Z"
	// maxAuthorization bounds the Authorization header parsed.
	maxAuthorization = 4096
)

// authorization is a parsed Authorization header.
type authorization struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	terminal      string // aws4_request
	signedHeaders []string
	signature     []byte
}

// scope is the credential scope of the string to sign.
func (a *authorization) scope() string {
	return a.date + "/" + a.region + "/" + a.service + "/" + a.terminal
}

// errIncomplete is a malformed or partial Authorization header.
var errIncomplete = errors.New("awsapi: incomplete signature")

// parseAuthorization parses an Authorization header of the AWS4-HMAC-SHA256
// scheme. It checks the form only; the scope's values are checked by the
// verifier.
func parseAuthorization(v string) (authorization, error) {
	var a authorization
	if len(v) > maxAuthorization {
		return a, fmt.Errorf("%w: the Authorization header is longer than %d bytes", errIncomplete, maxAuthorization)
	}
	alg, rest, ok := strings.Cut(v, " ")
	if !ok || alg != algorithm {
		return a, fmt.Errorf("%w: the Authorization header must start with %s", errIncomplete, algorithm)
	}
	var cred, signed, sig string
	var seen int
	for part := range strings.SplitSeq(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fmt.Errorf("%w: Authorization component %q is not name=value", errIncomplete, clip(part))
		}
		var bit int
		switch k {
		case "Credential":
			cred, bit = val, 1
		case "SignedHeaders":
			signed, bit = val, 2
		case "Signature":
			sig, bit = val, 4
		default:
			return a, fmt.Errorf("%w: unknown Authorization component %q", errIncomplete, clip(k))
		}
		if seen&bit != 0 {
			return a, fmt.Errorf("%w: Authorization names %s twice", errIncomplete, k)
		}
		seen |= bit
	}
	if seen != 7 {
		return a, fmt.Errorf("%w: Authorization must name Credential, SignedHeaders and Signature", errIncomplete)
	}
	fields := strings.Split(cred, "/")
	if len(fields) != 5 || fields[0] == "" {
		return a, fmt.Errorf("%w: Credential must be ACCESS_KEY_ID/DATE/REGION/SERVICE/aws4_request", errIncomplete)
	}
	a.accessKeyID, a.date, a.region, a.service, a.terminal = fields[0], fields[1], fields[2], fields[3], fields[4]
	if signed == "" {
		return a, fmt.Errorf("%w: SignedHeaders is empty", errIncomplete)
	}
	a.signedHeaders = strings.Split(signed, ";")
	for i, h := range a.signedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && a.signedHeaders[i-1] >= h) {
			return a, fmt.Errorf("%w: SignedHeaders must be distinct lower-case names in order", errIncomplete)
		}
	}
	b, err := hex.DecodeString(sig)
	if err != nil || len(b) != sha256.Size {
		return a, fmt.Errorf("%w: Signature must be 64 hexadecimal digits", errIncomplete)
	}
	a.signature = b
	return a, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// stringToSign builds the string signed for r with body.
func stringToSign(r *http.Request, body []byte, a *authorization, amzDate string) []byte {
	cr := sha256.Sum256(appendCanonicalRequest(make([]byte, 0, 512), r, body, a.signedHeaders))
	sb := make([]byte, 0, 160)
	sb = append(sb, algorithm+"\n"...)
	sb = append(sb, amzDate...)
	sb = append(sb, '\n')
	sb = append(sb, a.scope()...)
	sb = append(sb, '\n')
	return hex.AppendEncode(sb, cr[:])
}

// appendCanonicalRequest appends the canonical request of r to b.
func appendCanonicalRequest(b []byte, r *http.Request, body []byte, signed []string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = append(b, canonicalPath(r.URL)...)
	b = append(b, '\n')
	b = append(b, canonicalQuery(r.URL.RawQuery)...)
	b = append(b, '\n')
	for _, name := range signed {
		b = append(b, name...)
		b = append(b, ':')
		b = appendHeaderValue(b, r, name)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range signed {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	sum := sha256.Sum256(body)
	return hex.AppendEncode(b, sum[:])
}

// appendHeaderValue appends the canonical value of a signed header: its
// values trimmed, runs of white space made one space, joined with ",".
func appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		if vals = r.Header.Values(name); len(vals) == 0 && r.ContentLength >= 0 {
			vals = []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	default:
		vals = r.Header.Values(name)
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		if !needsTrim(v) {
			b = append(b, v...)
			continue
		}
		for j, f := range strings.Fields(v) {
			if j > 0 {
				b = append(b, ' ')
			}
			b = append(b, f...)
		}
	}
	return b
}

// needsTrim reports whether v has leading, trailing or repeated white
// space (or white space other than a single space).
func needsTrim(v string) bool {
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case ' ':
			if i == 0 || i == len(v)-1 || v[i-1] == ' ' {
				return true
			}
		case '\t', '\n', '\v', '\f', '\r':
			return true
		default:
			if c >= 0x80 {
				return true // strings.Fields also splits at Unicode spaces
			}
		}
	}
	return false
}

// canonicalPath normalizes the path (no empty or dot segments) and
// URI-encodes each segment of the escaped path once more, as SigV4 does
// for every service but S3.
func canonicalPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" || p == "/" {
		return "/"
	}
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, uriEncode(s))
		}
	}
	out := "/" + strings.Join(segs, "/")
	if strings.HasSuffix(p, "/") && len(segs) > 0 {
		out += "/"
	}
	return out
}

// canonicalQuery sorts the query's parameters by name, then value, each
// URI-encoded.
func canonicalQuery(raw string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var ps []kv
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		uk, err1 := url.QueryUnescape(k)
		uv, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			uk, uv = k, v
		}
		ps = append(ps, kv{uriEncode(uk), uriEncode(uv)})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].k != ps[j].k {
			return ps[i].k < ps[j].k
		}
		return ps[i].v < ps[j].v
	})
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// uriEncode percent-encodes every byte but A-Z a-z 0-9 - _ . ~.
func uriEncode(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// signature computes the signature of a string to sign.
func signature(key, sts []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(sts)
	return m.Sum(nil)
}
