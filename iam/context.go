package iam

import (
	"strconv"
	"strings"
	"time"
)

// Context holds the condition keys of a request: each key names zero or
// more string values (a multi-valued key such as kms:EncryptionContextKeys
// has several). The zero Context is empty and ready to use.
//
// Key names are case-insensitive (aws:SourceIp and aws:sourceip are one
// key) except the part after "kms:EncryptionContext:", which is the
// encryption context key itself and case-sensitive. Values are stored as
// given.
//
// The keys that describe the caller and the time (aws:PrincipalArn,
// aws:PrincipalAccount, aws:PrincipalType, aws:username, aws:userid,
// kms:CallerAccount, aws:CurrentTime, aws:EpochTime) are derived from the
// Request by Evaluate; values set for them here are ignored, so a caller
// cannot contradict the authenticated principal.
type Context struct {
	vals map[string][]string
	ec   map[string]string
}

// Set sets key to values, replacing earlier values. A key without values
// is present but empty: Null reports it as absent, ForAllValues is true on
// it and ForAnyValue false. Set panics on a key that is not "service:name"
// (keys are the server's constants; encryption context keys, which come
// from callers, go through SetEncryptionContext, which accepts any).
func (c *Context) Set(key string, values ...string) {
	k, ok := canonicalKey(key)
	if !ok {
		panic("iam: invalid condition key " + strconv.Quote(key))
	}
	if c.vals == nil {
		c.vals = make(map[string][]string)
	}
	c.vals[k] = values
}

// Get returns the values of key and whether it is present.
func (c *Context) Get(key string) ([]string, bool) {
	k, ok := canonicalKey(key)
	if !ok {
		return nil, false
	}
	v, ok := c.vals[k]
	return v, ok
}

// SetEncryptionContext records the request's encryption context: it sets
// kms:EncryptionContext:KEY for every pair, kms:EncryptionContextKeys to
// the keys, and keeps the map for grant constraints (a request without
// this call has an empty encryption context). The map must not be
// modified afterwards.
func (c *Context) SetEncryptionContext(ec map[string]string) {
	if c.vals == nil {
		c.vals = make(map[string][]string, len(ec)+1)
	}
	keys := make([]string, 0, len(ec))
	for k, v := range ec {
		// Any key is stored as given: encryption context keys come from
		// the caller, and one that no policy could name (empty, with
		// control characters) simply matches nothing.
		c.vals[ecPrefixLower+k] = []string{v}
		keys = append(keys, k)
	}
	c.vals["kms:encryptioncontextkeys"] = keys
	c.ec = ec
}

// EncryptionContext returns the map given to SetEncryptionContext.
func (c *Context) EncryptionContext() map[string]string { return c.ec }

const (
	ecPrefix      = "kms:EncryptionContext:"
	ecPrefixLower = "kms:encryptioncontext:"
)

// canonicalKey returns the form a condition key is stored and looked up
// in: lower-case ASCII, except the encryption context key after
// "kms:EncryptionContext:", which is kept as is.
func canonicalKey(key string) (string, bool) {
	if len(key) > len(ecPrefix) && equalFoldASCII(key[:len(ecPrefix)], ecPrefix) {
		suffix := key[len(ecPrefix):]
		if !validECKey(suffix) {
			return "", false
		}
		return ecPrefixLower + suffix, true
	}
	svc, name, ok := strings.Cut(key, ":")
	if !ok || svc == "" || name == "" {
		return "", false
	}
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '$' || c == '{' || c == '}' || c == '*' || c == '?' {
			return "", false
		}
	}
	return toLowerASCII(key), true
}

// validECKey accepts any non-empty UTF-8 string without control
// characters: encryption context keys are arbitrary text, compared
// byte for byte.
func validECKey(s string) bool {
	if s == "" || !validUTF8NoControl(s) {
		return false
	}
	return true
}

func validUTF8NoControl(s string) bool {
	for _, r := range s {
		if r == 0xfffd || r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// derivedKey names a condition key whose value comes from the Request
// rather than its Context.
type derivedKey uint8

const (
	notDerived derivedKey = iota
	keyPrincipalArn
	keyPrincipalAccount
	keyPrincipalType
	keyUsername
	keyUserid
	keyCallerAccount
	keyCurrentTime
	keyEpochTime
)

var derivedKeys = map[string]derivedKey{
	"aws:principalarn":     keyPrincipalArn,
	"aws:principalaccount": keyPrincipalAccount,
	"aws:principaltype":    keyPrincipalType,
	"aws:username":         keyUsername,
	"aws:userid":           keyUserid,
	"kms:calleraccount":    keyCallerAccount,
	"aws:currenttime":      keyCurrentTime,
	"aws:epochtime":        keyEpochTime,
}

// values is the value set of one key in one request, without allocation
// for the common single value.
type values struct {
	one  string
	many []string
	n    int
	t    time.Time
	time bool // t holds the value (aws:CurrentTime, aws:EpochTime)
}

func (v *values) at(i int) string {
	if v.many != nil {
		return v.many[i]
	}
	return v.one
}

func single(s string) values {
	if s == "" {
		return values{}
	}
	return values{one: s, n: 1}
}

// lookup returns the values of a canonical key in r.
func lookup(r *Request, key string, d derivedKey) values {
	p := &r.Principal
	switch d {
	case notDerived:
		vs := r.Context.vals[key]
		if len(vs) == 1 {
			return values{one: vs[0], n: 1}
		}
		return values{many: vs, n: len(vs)}
	case keyPrincipalArn:
		if p.Type == PrincipalRoleSession {
			return single(p.RoleARN)
		}
		return single(p.ARN)
	case keyPrincipalAccount, keyCallerAccount:
		return single(p.Account)
	case keyPrincipalType:
		return single(p.Type.awsName())
	case keyUsername:
		if p.Type == PrincipalUser {
			return single(p.Name)
		}
	case keyUserid:
		return single(p.UserID)
	case keyCurrentTime, keyEpochTime:
		if !r.Time.IsZero() {
			return values{n: 1, t: r.Time, time: true}
		}
	}
	return values{}
}

// text returns value i as a string, formatting a time as its key does.
func (v *values) text(i int, d derivedKey) string {
	if !v.time {
		return v.at(i)
	}
	if d == keyEpochTime {
		return strconv.FormatInt(v.t.Unix(), 10)
	}
	return v.t.UTC().Format(time.RFC3339)
}
