package awsapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	"github.com/kmsd/kmsd/server"
)

// wantAPIError fails unless err is the exception name with the HTTP status.
func wantAPIError(t *testing.T, err error, name string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != name {
		t.Fatalf("got %v, want %s", err, name)
	}
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("%s: got HTTP status %v, want %d", name, err, status)
	}
}

// rawRequest is a request signed by the AWS SDK's own SigV4 signer, which
// sign may alter before and after signing.
type rawRequest struct {
	creds    auth.Credentials
	target   string
	body     string
	at       time.Time
	region   string
	service  string
	before   func(*http.Request) // before signing
	after    func(*http.Request) // after signing
	endpoint string
}

func (r rawRequest) build(t testing.TB) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.endpoint+"/", strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentTypeJSON)
	req.Header.Set("User-Agent", "kmsd-test (aws-sdk-go-v2 signer)")
	if r.target != "" {
		req.Header.Set(headerTarget, r.target)
	}
	if r.before != nil {
		r.before(req)
	}
	sum := sha256.Sum256([]byte(r.body))
	at, region, service := r.at, r.region, r.service
	if at.IsZero() {
		at = time.Now()
	}
	if region == "" {
		region = server.DefaultRegion
	}
	if service == "" {
		service = Service
	}
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: r.creds.AccessKeyID,
		SecretAccessKey: r.creds.SecretAccessKey, SessionToken: r.creds.SessionToken}, req, hex.EncodeToString(sum[:]), service, region, at)
	if err != nil {
		t.Fatal(err)
	}
	if r.after != nil {
		r.after(req)
	}
	return req
}

// do sends the request and returns the status and the error's __type.
func (r rawRequest) do(t testing.TB) (int, string, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(r.build(t))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct {
		Type string `json:"__type"`
	}
	json.Unmarshal(b, &e)
	return resp.StatusCode, e.Type, b
}

// TestSDKAuthenticationErrors: wrong secrets, unknown keys, a wrong scope,
// a stale or unsigned request, an altered target or body, and session
// tokens that expired or were altered get AWS's exceptions; the SDK's
// errors.As finds its typed exceptions.
func TestSDKAuthenticationErrors(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	k, err := e.sdk(e.root).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	enc := &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p")}

	wrong := e.root
	wrong.SecretAccessKey = strings.Repeat("A", 40)
	_, err = e.sdk(wrong).Encrypt(ctx, enc)
	wantAPIError(t, err, excInvalidSig, 400)
	_, err = e.sdk(auth.Credentials{AccessKeyID: "AKIAUNKNOWNUNKNOWN00", SecretAccessKey: wrong.SecretAccessKey}).Encrypt(ctx, enc)
	wantAPIError(t, err, excUnrecognized, 400)
	other := e.sdk(e.root)
	_, err = other.Encrypt(ctx, enc, func(o *kms.Options) { o.Region = "eu-west-1" })
	wantAPIError(t, err, excInvalidSig, 400)

	_, err = e.sdk(e.root).DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("11111111-2222-3333-4444-555555555555")})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("DescribeKey of a missing key: %v, want *types.NotFoundException", err)
	}
	_, err = e.sdk(e.root).Sign(ctx, &kms.SignInput{KeyId: aws.String(keyID), Message: []byte("m"), SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	var unsup *types.UnsupportedOperationException
	if !errors.As(err, &unsup) {
		t.Fatalf("Sign: %v, want *types.UnsupportedOperationException", err)
	}
	nobody := e.userCreds(t, "nobody", "")
	_, err = e.sdk(nobody).Encrypt(ctx, enc)
	var denied smithy.APIError // the SDK has no type for AccessDeniedException
	if !errors.As(err, &denied) || denied.ErrorCode() != excAccessDenied || !strings.Contains(denied.ErrorMessage(), "kms:Encrypt") {
		t.Fatalf("Encrypt without a policy: %v, want AccessDeniedException", err)
	}

	body := `{"KeyId":"` + keyID + `","Plaintext":"cA=="}`
	base := rawRequest{creds: e.root, target: "TrentService.Encrypt", body: body, endpoint: e.url}
	if st, typ, b := base.do(t); st != 200 || typ != "" {
		t.Fatalf("a good raw request: %d %s %s", st, typ, b)
	}
	for _, c := range []struct {
		name   string
		mut    func(*rawRequest)
		status int
		exc    string
	}{
		{"ten minutes old", func(r *rawRequest) { r.at = time.Now().Add(-10 * time.Minute) }, 400, excInvalidSig},
		{"ten minutes ahead", func(r *rawRequest) { r.at = time.Now().Add(10 * time.Minute) }, 400, excInvalidSig},
		{"another service", func(r *rawRequest) { r.service = "s3" }, 400, excInvalidSig},
		{"target changed after signing", func(r *rawRequest) {
			r.after = func(q *http.Request) { q.Header.Set(headerTarget, "TrentService.GenerateDataKey") }
		}, 400, excInvalidSig},
		{"body changed after signing", func(r *rawRequest) {
			r.after = func(q *http.Request) {
				nb := strings.Replace(body, "cA==", "cQ==", 1)
				q.Body, q.ContentLength = io.NopCloser(strings.NewReader(nb)), int64(len(nb))
			}
		}, 400, excInvalidSig},
		{"target not signed", func(r *rawRequest) {
			r.target = ""
			r.after = func(q *http.Request) { q.Header.Set(headerTarget, "TrentService.Encrypt") }
		}, 400, excIncomplete},
		{"no Authorization", func(r *rawRequest) { r.after = func(q *http.Request) { q.Header.Del("Authorization") } }, 400, excMissingToken},
		{"truncated Authorization", func(r *rawRequest) {
			r.after = func(q *http.Request) { q.Header.Set("Authorization", q.Header.Get("Authorization")[:60]) }
		}, 400, excIncomplete},
		{"no X-Amz-Date", func(r *rawRequest) { r.after = func(q *http.Request) { q.Header.Del(headerDate) } }, 400, excIncomplete},
		{"X-Amz-Date with fractional seconds", func(r *rawRequest) {
			r.after = func(q *http.Request) {
				d := q.Header.Get(headerDate)
				q.Header.Set(headerDate, d[:len(d)-1]+"."+strings.Repeat("0", 5000)+"Z")
			}
		}, 400, excIncomplete},
		{"unknown operation", func(r *rawRequest) { r.target = "TrentService.Bogus" }, 400, excUnknownOperation},
		{"two targets, both signed", func(r *rawRequest) {
			r.before = func(q *http.Request) { q.Header.Add(headerTarget, "TrentService.Decrypt") }
		}, 400, excUnknownOperation},
		{"two dates", func(r *rawRequest) {
			r.after = func(q *http.Request) { q.Header.Add(headerDate, q.Header.Get(headerDate)) }
		}, 400, excIncomplete},
		{"another service's target", func(r *rawRequest) { r.target = "DynamoDB_20120810.ListTables" }, 400, excUnknownOperation},
		{"a field of the wrong type", func(r *rawRequest) { r.body = `{"KeyId": 5, "Plaintext": "cA=="}` }, 400, excSerialization},
		{"not JSON", func(r *rawRequest) { r.body = `{"KeyId"` }, 400, excSerialization},
		{"bad base64", func(r *rawRequest) { r.body = `{"KeyId":"` + keyID + `","Plaintext":"!!"}` }, 400, excSerialization},
		{"too large", func(r *rawRequest) { r.body = `{"Plaintext":"` + strings.Repeat("A", MaxBodyBytes) + `"}` }, 413, excTooLarge},
		{"too much plaintext", func(r *rawRequest) {
			r.body = `{"KeyId":"` + keyID + `","Plaintext":"` + strings.Repeat("AAAA", 1366) + `"}`
		}, 400, excValidation},
	} {
		r := base
		c.mut(&r)
		if st, typ, b := r.do(t); st != c.status || typ != c.exc {
			t.Errorf("%s: got %d %s (%s), want %d %s", c.name, st, typ, b, c.status, c.exc)
		}
	}
}

// TestSDKSessionCredentials: temporary credentials from AssumeRole sign
// AWS requests; once the session has expired (the server's clock moved
// past it) they get ExpiredTokenException, and an altered token
// UnrecognizedClientException.
func TestSDKSessionCredentials(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	admin := e.iam(t)
	acct := server.DefaultAccountID
	if _, err := admin.CreateRole(ctx, &kmsv1.CreateRoleRequest{RoleName: "app", MaxSessionDuration: 3600,
		AssumeRolePolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + acct + `:root"},"Action":"sts:AssumeRole"}]}`}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.PutRolePolicy(ctx, &kmsv1.PutRolePolicyRequest{RoleName: "app", PolicyName: "use",
		PolicyDocument: `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:CreateKey"],"Resource":"*"}]}`}); err != nil {
		t.Fatal(err)
	}
	ar, err := kmsv1.NewSecurityTokenServiceClient(e.conn(t, e.root)).AssumeRole(ctx, &kmsv1.AssumeRoleRequest{
		RoleArn: "arn:aws:iam::" + acct + ":role/app", RoleSessionName: "batch", DurationSeconds: 900})
	if err != nil {
		t.Fatal(err)
	}
	tc := ar.GetCredentials()
	sess := auth.Credentials{AccessKeyID: tc.GetAccessKeyId(), SecretAccessKey: tc.GetSecretAccessKey(), SessionToken: tc.GetSessionToken()}
	c := e.sdk(sess)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatalf("a session's call: %v", err)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	_, err = c.GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)})
	wantAPIError(t, err, excAccessDenied, 400)
	altered := sess
	altered.SessionToken = sess.SessionToken[:len(sess.SessionToken)-2] + "AA"
	_, err = e.sdk(altered).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p")})
	wantAPIError(t, err, excUnrecognized, 400)
	e.offset.Store(int64(16 * time.Minute))
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p")})
	wantAPIError(t, err, excExpiredToken, 400)
}

// TestPlainHTTPOnlyOnLoopback: without TLS the endpoint answers only on a
// loopback address unless AllowPlainHTTP is set.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct {
		local  string
		allow  bool
		status int
	}{
		{"10.0.0.1:7480", false, http.StatusForbidden},
		{"[::1]:7480", false, http.StatusBadRequest},
		{"127.0.0.1:7480", false, http.StatusBadRequest},
		{"10.0.0.1:7480", true, http.StatusBadRequest},
	} {
		h, err := New(Config{Server: e.srv, AllowPlainHTTP: c.allow})
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte("{}")))
		req.Header.Set(headerTarget, "TrentService.ListKeys") // unsigned: 400 once past the check
		addr, _ := net.ResolveTCPAddr("tcp", c.local)
		req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(addr)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != c.status {
			t.Errorf("local %s, allow %v: status %d (%s), want %d", c.local, c.allow, w.Code, w.Body, c.status)
		}
	}
}
