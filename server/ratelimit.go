package server

import (
	"context"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Bucket is a token bucket: Rate requests per second on average, at most
// Burst at once. A Rate of zero turns the bucket off (no limit).
type Bucket struct {
	Rate  float64
	Burst int
}

// RateLimits are the request quotas, shaped like AWS KMS's: every
// principal (an access key's user, the account root, or a role, whose
// sessions share its quota) has one bucket for the cryptographic
// operations together (Encrypt, Decrypt, ReEncrypt, GenerateDataKey*,
// GenerateRandom), one for the calls that only read (Describe*, Get*,
// List*, Lookup*) and one for every other call (mutations, and
// GetParametersForImport, which makes an RSA key). Global bounds every
// call to the node, whoever makes it. A call over a quota fails with
// ThrottlingException (ResourceExhausted) before its handler runs, and is
// audited like any refusal. The zero value limits nothing.
type RateLimits struct {
	Crypto, Read, Mutation Bucket
	Global                 Bucket
}

// Default quotas of kmsd (per principal unless named global). The
// cryptographic one is AWS KMS's smallest regional quota for symmetric
// cryptographic operations.
var DefaultRateLimits = RateLimits{
	Crypto:   Bucket{Rate: 5500, Burst: 5500},
	Read:     Bucket{Rate: 1000, Burst: 1000},
	Mutation: Bucket{Rate: 100, Burst: 200},
	Global:   Bucket{Rate: 20000, Burst: 20000},
}

// quotaClass is which of a principal's buckets a call draws from.
type quotaClass int

const (
	quotaCrypto quotaClass = iota
	quotaRead
	quotaMutation
	numQuotaClasses
)

var cryptoOperations = map[string]bool{
	"Encrypt": true, "Decrypt": true, "ReEncrypt": true, "GenerateDataKey": true,
	"GenerateDataKeyWithoutPlaintext": true, "GenerateRandom": true,
}

// classOf returns the quota class of a method's name.
func classOf(name string) quotaClass {
	switch {
	case cryptoOperations[name]:
		return quotaCrypto
	case name == "GetParametersForImport":
		return quotaMutation
	}
	for _, p := range []string{"Describe", "Get", "List", "Lookup"} {
		if strings.HasPrefix(name, p) {
			return quotaRead
		}
	}
	return quotaMutation
}

// limiter holds the token buckets. Buckets of principals are made on
// their first call and dropped once full again (a full bucket is the same
// as a new one), so idle principals cost nothing.
type limiter struct {
	cfg    RateLimits
	global *rate.Limiter
	mu     sync.Mutex
	// principals holds each principal's buckets by class.
	principals map[string]*[numQuotaClasses]*rate.Limiter
	// sweepAt is the map size at which full buckets are dropped.
	sweepAt int
	now     func() time.Time
}

// minSweep is the number of principals tracked before the first sweep.
const minSweep = 1024

func newLimiter(cfg RateLimits) *limiter {
	if cfg == (RateLimits{}) {
		return nil
	}
	l := &limiter{cfg: cfg, principals: map[string]*[numQuotaClasses]*rate.Limiter{}, sweepAt: minSweep, now: time.Now}
	l.global = newBucket(cfg.Global)
	return l
}

func newBucket(b Bucket) *rate.Limiter {
	if b.Rate <= 0 {
		return rate.NewLimiter(rate.Inf, 0)
	}
	return rate.NewLimiter(rate.Limit(b.Rate), max(b.Burst, 1))
}

func (l *limiter) bucket(c quotaClass) Bucket {
	switch c {
	case quotaCrypto:
		return l.cfg.Crypto
	case quotaRead:
		return l.cfg.Read
	}
	return l.cfg.Mutation
}

// allow takes one token from the principal's bucket of the call's class
// and one from the global bucket, and reports whether both had one.
func (l *limiter) allow(principal, name string) bool {
	c := classOf(name)
	now := l.now()
	l.mu.Lock()
	bs := l.principals[principal]
	if bs == nil {
		if len(l.principals) >= l.sweepAt {
			l.sweepLocked(now)
		}
		bs = new([numQuotaClasses]*rate.Limiter)
		l.principals[principal] = bs
	}
	b := bs[c]
	if b == nil {
		b = newBucket(l.bucket(c))
		bs[c] = b
	}
	l.mu.Unlock()
	if !b.AllowN(now, 1) {
		return false
	}
	return l.global.AllowN(now, 1)
}

// sweepLocked drops the principals whose buckets are all full again, and
// sets the next sweep at twice the size left.
func (l *limiter) sweepLocked(now time.Time) {
	for p, bs := range l.principals {
		full := true
		for c, b := range bs {
			if b != nil && b.TokensAt(now) < float64(b.Burst()) && l.bucket(quotaClass(c)).Rate > 0 {
				full = false
			}
		}
		if full {
			delete(l.principals, p)
		}
	}
	l.sweepAt = max(minSweep, 2*len(l.principals))
}

// throttle refuses a call of method over the caller's or the node's
// quota. It runs after authentication: the bucket is the caller's.
func (s *Server) throttle(ctx context.Context, method string) error {
	if s.limits == nil || !needsAuthentication(method) {
		return nil
	}
	name := method[strings.LastIndexByte(method, '/')+1:]
	if s.limits.allow(quotaPrincipal(ctx), name) {
		return nil
	}
	return errThrottled
}

// quotaPrincipal names whose quota a call draws from: the caller's ARN,
// or for a role session the role's, so that a role's sessions share one
// quota. Calls without authentication share "".
func quotaPrincipal(ctx context.Context) string {
	c, ok := callerFrom(ctx)
	if !ok {
		return ""
	}
	if sc := c.identity.SessionContext; sc != nil && sc.SessionIssuer.ARN != "" {
		return sc.SessionIssuer.ARN
	}
	return c.identity.ARN
}
