package server

import (
	"context"
	"flag"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var timingSamples = flag.Int("timing-samples", 2000, "S6: samples of each kind of failed authentication")

// TestAuthenticationFailuresTakeTheSameTime (S6): a refused call costs the
// same whether its access key id is unknown or known with a wrong secret,
// for an IAM user's key and for the root's, so timing does not tell an
// attacker which access key ids exist. Samples of the two kinds are taken
// interleaved in random order, the slowest 10 % of all samples are
// dropped (scheduler and GC noise, as dudect crops), and Welch's t must
// stay below 4.5. A leak is systematic, noise is not: a measurement over
// the bound is taken again, up to three times in all.
func TestAuthenticationFailuresTakeTheSameTime(t *testing.T) {
	if raceDetector {
		// The detector instruments every memory access, so the paths'
		// costs differ from the product's (|t| near 10 with it).
		t.Skip("timing is measured without the race detector (go test ./server runs it)")
	}
	a := newAuthServer(t)
	ctx := context.Background()
	admin := kmsv1.NewIdentityManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: "app"}); err != nil {
		t.Fatal(err)
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: "app"})
	if err != nil {
		t.Fatal(err)
	}
	user := auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: "wrong" + ak.GetAccessKey().GetSecretAccessKey()}
	root := auth.Credentials{AccessKeyID: a.root.AccessKeyID, SecretAccessKey: "wrong" + a.root.SecretAccessKey}
	const method = "/kms.v1.KeyManagementService/Encrypt"
	req := &kmsv1.EncryptRequest{KeyId: "alias/x", Plaintext: []byte("p")}
	// incoming returns the server-side context of a call signed with c.
	incoming := func(c auth.Credentials) context.Context {
		out, err := (&auth.Signer{Creds: c, Now: a.clock.Now}).Sign(ctx, method, req)
		if err != nil {
			t.Fatal(err)
		}
		md, _ := metadata.FromOutgoingContext(out)
		return metadata.NewIncomingContext(ctx, md)
	}
	unknown := func(prefix string) context.Context {
		return incoming(auth.Credentials{AccessKeyID: prefix + "UNKNOWNUNKNOWNUNKN", SecretAccessKey: "whatever"})
	}
	for _, c := range []struct {
		name        string
		known, unkn context.Context
	}{
		{"IAM user's key, wrong secret vs unknown key", incoming(user), unknown("AK")},
		{"root's key, wrong secret vs unknown key", incoming(root), unknown("AK")},
	} {
		t.Run(c.name, func(t *testing.T) {
			var tval float64
			for attempt := 1; attempt <= 3; attempt++ {
				tval = timingT(t, *timingSamples, func(known bool) time.Duration {
					cctx := c.unkn
					if known {
						cctx = c.known
					}
					start := time.Now()
					_, err := a.srv.auth.authenticate(cctx, method, req)
					d := time.Since(start)
					if err == nil {
						t.Fatal("a wrong secret was accepted")
					}
					return d
				})
				t.Logf("attempt %d: Welch's t = %.2f over %d + %d samples", attempt, tval, *timingSamples, *timingSamples)
				if math.Abs(tval) < 4.5 {
					return
				}
			}
			t.Fatalf("|t| = %.2f ≥ 4.5 three times: the time of a refusal tells known access keys from unknown ones", math.Abs(tval))
		})
	}
}

// timingT measures n samples of each class in random order and returns
// Welch's t of the cropped samples.
func timingT(t *testing.T, n int, measure func(known bool) time.Duration) float64 {
	order := make([]bool, 0, 2*n)
	for i := range 2 * n {
		order = append(order, i%2 == 0)
	}
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	for range 200 { // warm up caches and the allocator
		measure(true)
		measure(false)
	}
	var known, unknown []float64
	for _, k := range order {
		d := float64(measure(k))
		if k {
			known = append(known, d)
		} else {
			unknown = append(unknown, d)
		}
	}
	all := slices.Concat(known, unknown)
	slices.Sort(all)
	limit := all[len(all)*9/10]
	crop := func(xs []float64) []float64 {
		return slices.DeleteFunc(xs, func(x float64) bool { return x > limit })
	}
	known, unknown = crop(known), crop(unknown)
	m1, v1 := meanVar(known)
	m2, v2 := meanVar(unknown)
	t.Logf("known: mean %.1f µs (%d kept); unknown: mean %.1f µs (%d kept)", m1/1e3, len(known), m2/1e3, len(unknown))
	return (m1 - m2) / math.Sqrt(v1/float64(len(known))+v2/float64(len(unknown)))
}

func meanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}
