package server

import (
	"context"
	"flag"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/auth"
	"github.com/kmsd/kmsd/iam"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var rateLimitSeconds = flag.Duration("rate-limit-duration", 3*time.Second,
	"how long the X4 rate limit test floods (longer for a closer figure)")

func TestQuotaClasses(t *testing.T) {
	for _, c := range []struct {
		name string
		want quotaClass
	}{
		{"Encrypt", quotaCrypto}, {"Decrypt", quotaCrypto}, {"ReEncrypt", quotaCrypto},
		{"GenerateDataKey", quotaCrypto}, {"GenerateDataKeyWithoutPlaintext", quotaCrypto}, {"GenerateRandom", quotaCrypto},
		{"DescribeKey", quotaRead}, {"ListKeys", quotaRead}, {"GetKeyPolicy", quotaRead}, {"LookupEvents", quotaRead},
		{"GetCallerIdentity", quotaRead},
		{"CreateKey", quotaMutation}, {"ScheduleKeyDeletion", quotaMutation}, {"CreateGrant", quotaMutation},
		{"GetParametersForImport", quotaMutation}, {"AssumeRole", quotaMutation}, {"NoSuchOperation", quotaMutation},
	} {
		if got := classOf(c.name); got != c.want {
			t.Errorf("classOf(%s) = %d, want %d", c.name, got, c.want)
		}
	}
}

// TestLimiterBuckets: each principal has its own bucket per class, the
// global bucket bounds them all, a zero rate is no limit, and the map of
// principals is swept of full buckets only.
func TestLimiterBuckets(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(RateLimits{Crypto: Bucket{Rate: 1, Burst: 3}, Mutation: Bucket{Rate: 1, Burst: 1}, Global: Bucket{Rate: 1, Burst: 5}})
	l.now = func() time.Time { return now }
	take := func(p, op string, n int) (ok int) {
		for range n {
			if l.allow(p, op) {
				ok++
			}
		}
		return ok
	}
	if got := take("a", "Encrypt", 10); got != 3 {
		t.Fatalf("a: %d of 10 allowed, want the burst of 3", got)
	}
	if got := take("a", "CreateKey", 10); got != 1 {
		t.Fatalf("a's mutations: %d allowed, want 1 (its own bucket)", got)
	}
	if got := take("b", "Encrypt", 10); got != 1 {
		t.Fatalf("b: %d allowed, want the 1 the global bucket has left", got)
	}
	if got := take("b", "ListKeys", 10); got != 0 {
		t.Fatalf("b's reads (no quota): %d allowed with the global bucket empty", got)
	}
	now = now.Add(2 * time.Second)
	if got := take("a", "Encrypt", 10); got != 2 {
		t.Fatalf("a after 2 s: %d allowed, want 2", got)
	}
	if l := newLimiter(RateLimits{}); l != nil {
		t.Fatal("zero RateLimits made a limiter")
	}
	// Sweep: full buckets go, the others stay.
	l.sweepLocked(now)
	if _, ok := l.principals["a"]; !ok {
		t.Fatal("sweep dropped a principal whose bucket is not full")
	}
	now = now.Add(time.Hour)
	l.sweepLocked(now)
	if len(l.principals) != 0 {
		t.Fatalf("%d principals left after a sweep of full buckets", len(l.principals))
	}
}

// TestRateLimitX4 (test plan X4): one principal calls Encrypt at twice its
// quota while another calls at a tenth of it. The first gets its quota
// (±10 %) and ThrottlingException for the rest, each on record in the
// audit log; the second is never refused. -rate-limit-duration sets how
// long it runs.
func TestRateLimitX4(t *testing.T) {
	const rate, burst = 100.0, 50
	a := newAuthServer(t, func(c *Config) {
		c.RateLimits = RateLimits{Crypto: Bucket{Rate: rate, Burst: burst}}
	})
	ctx := context.Background()
	rootConn := a.signed(t, a.root, a.clock.Now)
	kms := kmsv1.NewKeyManagementServiceClient(rootConn)
	k, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()
	admin := kmsv1.NewIdentityManagementServiceClient(rootConn)
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "quiet"}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AttachUserPolicy(ctx, &kmsv1.AttachUserPolicyRequest{UserName: "quiet", PolicyArn: iam.KeyUser.ARN()}); err != nil {
		t.Fatal(err)
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	quiet := kmsv1.NewKeyManagementServiceClient(a.signed(t, auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(),
		SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}, a.clock.Now))
	time.Sleep(time.Duration(burst / rate * float64(time.Second))) // the root's bucket is full again
	logBefore := a.store.LogSize()

	d := *rateLimitSeconds
	encrypt := func(c kmsv1.KeyManagementServiceClient) error {
		_, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
		return err
	}
	var loud, quietRes *paced
	start := time.Now()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); loud = pace(t, 2*rate, d, 16, func() error { return encrypt(kms) }) }()
	go func() { defer wg.Done(); quietRes = pace(t, rate/10, d, 2, func() error { return encrypt(quiet) }) }()
	wg.Wait()
	elapsed := time.Since(start).Seconds()

	got := float64(loud.ok.Load()-burst) / elapsed
	t.Logf("flooding principal: %d calls (%.0f/s offered), %d accepted: %.1f/s after the burst of %d, limit %.0f/s; %d throttled",
		loud.sent.Load(), float64(loud.sent.Load())/elapsed, loud.ok.Load(), got, burst, rate, loud.throttled.Load())
	t.Logf("other principal: %d of %d succeeded", quietRes.ok.Load(), quietRes.sent.Load())
	if offered := float64(loud.sent.Load()) / elapsed; offered < 1.8*rate {
		t.Fatalf("offered only %.0f/s; the test did not flood at twice the limit", offered)
	}
	if got < 0.9*rate || got > 1.1*rate {
		t.Errorf("accepted %.1f/s, want %.0f/s ± 10%%", got, rate)
	}
	if n := loud.other.Load(); n > 0 {
		t.Errorf("%d refusals other than ThrottlingException", n)
	}
	if s, ok := quietRes.sent.Load(), quietRes.ok.Load(); ok*100 < s*99 || s == 0 {
		t.Errorf("other principal: %d of %d succeeded, want ≥ 99%%", ok, s)
	}
	// Every throttled call is on record.
	recs, err := a.store.LogRecords(logBefore, a.store.LogSize())
	if err != nil {
		t.Fatal(err)
	}
	throttled := int64(0)
	for _, r := range recs {
		e, err := audit.ParseEvent(r)
		if err != nil {
			t.Fatal(err)
		}
		if e.ErrorCode == excThrottling {
			throttled++
			if e.EventName != "Encrypt" || e.UserIdentity.ARN == "" {
				t.Errorf("throttled record: event %s, identity %+v", e.EventName, e.UserIdentity)
			}
		}
	}
	if throttled != loud.throttled.Load() {
		t.Errorf("%d ThrottlingException records, %d calls throttled", throttled, loud.throttled.Load())
	}
}

// paced counts the outcomes of calls made by pace.
type paced struct {
	sent, ok, throttled, other atomic.Int64
}

// pace calls f at perSecond for d from at most workers goroutines and
// counts the outcomes.
func pace(t *testing.T, perSecond float64, d time.Duration, workers int, f func() error) *paced {
	p := new(paced)
	ticks := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range ticks {
				p.sent.Add(1)
				err := f()
				switch {
				case err == nil:
					p.ok.Add(1)
				case ExceptionName(err) == excThrottling:
					p.throttled.Add(1)
				default:
					p.other.Add(1)
					t.Log(err)
				}
			}
		}()
	}
	interval := time.Duration(float64(time.Second) / perSecond)
	start := time.Now()
	for i := 0; ; i++ {
		next := start.Add(time.Duration(i) * interval)
		if next.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(next))
		ticks <- struct{}{}
	}
	close(ticks)
	wg.Wait()
	return p
}
