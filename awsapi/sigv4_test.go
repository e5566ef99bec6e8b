package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/kmsd/kmsd/server"
)

// The credentials, scope and time of AWS's published Signature Version 4
// test suite.
const (
	suiteKeyID  = "AKIDEXAMPLE"
	suiteSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	suiteDate   = "20150830T123600Z"
)

// suiteCred is a credential with a known secret.
type suiteCred struct {
	secret  string
	known   bool
	expired bool
}

func (c suiteCred) SigV4Key(date, region, service string) []byte {
	return server.SigV4Key(c.secret, date, region, service)
}
func (c suiteCred) Known() bool   { return c.known }
func (c suiteCred) Expired() bool { return c.expired }

func suiteVerifier(service string) *verifier {
	t, _ := time.Parse(amzDateFmt, suiteDate)
	return &verifier{region: "us-east-1", service: service, now: func() time.Time { return t },
		lookup: func(id, _ string) signingCredential {
			return suiteCred{secret: suiteSecret, known: id == suiteKeyID}
		}}
}

// TestSigV4TestSuite checks the canonical request and signature against
// cases of AWS's published test suite (aws-sig-v4-test-suite: service
// "service", us-east-1, 2015-08-30T12:36:00Z).
func TestSigV4TestSuite(t *testing.T) {
	for _, c := range []struct {
		name, method, target string
		headers              [][2]string
		body, signed, sig    string
	}{
		{"get-vanilla", "GET", "/", nil, "", "host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"post-vanilla", "POST", "/", nil, "", "host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"post-vanilla-query", "POST", "/?Param1=value1", nil, "", "host;x-amz-date", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", nil, "", "host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-header-key-case", "POST", "/", [][2]string{{"MY-HEADER1", "value1"}}, "", "host;my-header1;x-amz-date", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
		{"post-header-value-case", "POST", "/", [][2]string{{"My-Header1", "VALUE1"}}, "", "host;my-header1;x-amz-date", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"},
		{"get-header-key-duplicate", "GET", "/", [][2]string{{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}}, "", "host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
		{"get-header-value-trim", "GET", "/", [][2]string{{"My-Header1", " value1"}, {"My-Header2", ` "a   b   c"`}}, "", "host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
		{"post-x-www-form-urlencoded", "POST", "/", [][2]string{{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1", "content-type;host;x-amz-date", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := http.NewRequest(c.method, "https://example.amazonaws.com"+c.target, strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range c.headers {
				r.Header.Add(h[0], h[1])
			}
			r.Header.Set("X-Amz-Date", suiteDate)
			a := authorization{accessKeyID: suiteKeyID, date: "20150830", region: "us-east-1", service: "service",
				terminal: "aws4_request", signedHeaders: strings.Split(c.signed, ";")}
			got := signature(server.SigV4Key(suiteSecret, a.date, a.region, a.service), stringToSign(r, []byte(c.body), &a, suiteDate))
			if hex.EncodeToString(got) != c.sig {
				t.Fatalf("signature %x, want %s; canonical request:\n%s", got, c.sig, appendCanonicalRequest(nil, r, []byte(c.body), a.signedHeaders))
			}
		})
	}
}

// TestSigV4AgainstSDKSigner: requests signed by the AWS SDK's signer,
// with random bodies, targets, headers and query strings, verify; the
// same requests with one byte of the signature changed do not.
func TestSigV4AgainstSDKSigner(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := suiteVerifier(Service)
	at, _ := time.Parse(amzDateFmt, suiteDate)
	for i := range 200 {
		body := make([]byte, rng.IntN(300))
		for j := range body {
			body[j] = byte(rng.IntN(256))
		}
		q := ""
		if rng.IntN(2) == 0 {
			q = fmt.Sprintf("?b=%d&a=x%%20y&a=%d", rng.IntN(100), rng.IntN(10))
		}
		r, err := http.NewRequest(http.MethodPost, "http://127.0.0.1:7480/"+q, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set(headerTarget, "TrentService.Op"+fmt.Sprint(i))
		r.Header.Set("Content-Type", contentTypeJSON)
		r.Header.Set("X-Extra", strings.Repeat(" a  b ", rng.IntN(3)))
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: suiteKeyID, SecretAccessKey: suiteSecret},
			r, hex.EncodeToString(sum[:]), Service, "us-east-1", at); err != nil {
			t.Fatal(err)
		}
		r.Host = r.URL.Host
		if got := v.verify(r, body); got.err != nil {
			t.Fatalf("request %d: %s: %s (Authorization %s)", i, got.err.name, got.err.message, r.Header.Get("Authorization"))
		}
		authz := []byte(r.Header.Get("Authorization"))
		p := len(authz) - 1 - rng.IntN(64)
		authz[p] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", authz[p])+1)%16]
		r.Header.Set("Authorization", string(authz))
		if got := v.verify(r, body); got.err == nil || got.err.name != excInvalidSig {
			t.Fatalf("request %d with an altered signature: %+v", i, got.err)
		}
	}
}

// TestParseAuthorizationRefuses lists malformed headers.
func TestParseAuthorizationRefuses(t *testing.T) {
	good := "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=" + strings.Repeat("ab", 32)
	if _, err := parseAuthorization(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"",
		"AWS4-HMAC-SHA1 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=" + strings.Repeat("ab", 32),
		strings.Replace(good, "Credential=AKID/20150830/us-east-1/kms/aws4_request", "Credential=AKID/20150830/us-east-1/kms", 1),
		strings.Replace(good, "Credential=AKID", "Credential=", 1),
		strings.Replace(good, "SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date;host", 1),
		strings.Replace(good, "SignedHeaders=host;x-amz-date", "SignedHeaders=Host;x-amz-date", 1),
		strings.Replace(good, "SignedHeaders=host;x-amz-date", "SignedHeaders=host;;x-amz-date", 1),
		strings.Replace(good, "SignedHeaders=host;x-amz-date", "SignedHeaders=", 1),
		strings.Replace(good, ", Signature=", ", Sig=", 1),
		good[:len(good)-2],
		good + "zz",
		good + ", Signature=" + strings.Repeat("ab", 32),
		good + ", Extra=1",
		good + ", novalue",
		"AWS4-HMAC-SHA256 " + strings.Repeat("x", maxAuthorization),
	} {
		if _, err := parseAuthorization(bad); err == nil {
			t.Errorf("parseAuthorization(%q) accepted", bad)
		}
	}
}

// FuzzSigV4Parse (F5): the Authorization parser and the canonical request
// never panic, and what parses is well formed.
func FuzzSigV4Parse(f *testing.F) {
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature="+strings.Repeat("ab", 32), "/a/./b/../c//d", "b=2&a=1&a=%20")
	f.Add("AWS4-HMAC-SHA256 Credential=////, SignedHeaders=a, Signature=", "/%zz", "a=%zz&=&&b")
	f.Add("AWS4-HMAC-SHA256 ,,,", "", "")
	f.Fuzz(func(t *testing.T, authz, path, query string) {
		a, err := parseAuthorization(authz)
		if err == nil {
			if len(a.signature) != sha256.Size || len(a.signedHeaders) == 0 || a.accessKeyID == "" {
				t.Fatalf("accepted a malformed header: %+v", a)
			}
		}
		r, err := http.NewRequest(http.MethodPost, "http://h/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.URL.Path, r.URL.RawPath, r.URL.RawQuery = path, "", query
		r.Header.Set("X-Amz-Date", suiteDate)
		r.Header.Set("Authorization", authz)
		if a.signedHeaders == nil {
			a.signedHeaders = []string{"host"}
		}
		stringToSign(r, []byte(path), &a, suiteDate)
		v := suiteVerifier(Service)
		v.verify(r, nil)
	})
}
