package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/kmsd/kmsd/auth"
)

// awsClient is an AWS SDK client of d's AWS-compatible endpoint.
func awsClient(endpoint string, c auth.Credentials, hc *http.Client) *kms.Client {
	o := kms.Options{Region: "us-east-1", BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)}
	if hc != nil {
		o.HTTPClient = hc
	}
	return kms.New(o)
}

// TestAWSEndpoint: the real kmsd answers the AWS SDK on --http-addr, and
// ciphertexts cross between the AWS endpoint and kmsctl (gRPC) both ways;
// the calls are in the audit log with the SDK's user agent.
func TestAWSEndpoint(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	c := awsClient("http://"+d.httpAddr, d.accessKey(), nil)
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("through the AWS SDK")})
	if err != nil {
		t.Fatalf("CreateKey through the AWS endpoint: %v\n%s", err, d.log)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hello from aws"),
		EncryptionContext: map[string]string{"app": "e2e"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ct := write(t, dir, "ct", enc.CiphertextBlob)
	out := d.ok("decrypt", "--ciphertext-blob", "fileb://"+ct, "--encryption-context", "app=e2e")
	if got := decodeB64(t, str(out, "Plaintext")); string(got) != "hello from aws" {
		t.Fatalf("kmsctl decrypt of an AWS ciphertext: %q", got)
	}
	fromCtl := decodeB64(t, str(d.ok("encrypt", "--key-id", keyID, "--plaintext", b64("hello from kmsctl")), "CiphertextBlob"))
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: fromCtl})
	if err != nil || string(dec.Plaintext) != "hello from kmsctl" {
		t.Fatalf("AWS Decrypt of a kmsctl ciphertext: %v", err)
	}
	_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/none")})
	var nf *types.NotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("DescribeKey alias/none: %v, want NotFoundException", err)
	}
	found := false
	for _, ev := range d.auditRecords() {
		var r struct {
			EventName string `json:"eventName"`
			UserAgent string `json:"userAgent"`
		}
		json.Unmarshal(ev.GetRecord(), &r)
		found = found || (r.EventName == "Encrypt" && strings.Contains(r.UserAgent, "aws-sdk-go-v2"))
	}
	if !found {
		t.Fatal("no audit record of the AWS SDK's Encrypt")
	}
}

// TestAWSEndpointTLS: with certificates configured the HTTP port serves
// the AWS API over TLS, and health checks still answer plain HTTP.
func TestAWSEndpointTLS(t *testing.T) {
	pki := filepath.Join(t.TempDir(), "tls")
	mustKmsd(t, "tls", "ca", "--dir", pki)
	mustKmsd(t, "tls", "node", "--dir", pki, "--node-id", "kmsd-1", "--hosts", "127.0.0.1,localhost")
	caFile := filepath.Join(pki, "ca.pem")
	d := startDaemon(t, "--tls-cert-file", filepath.Join(pki, "kmsd-1.pem"), "--tls-key-file", filepath.Join(pki, "kmsd-1-key.pem"),
		"--tls-ca-file", caFile)
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	c := awsClient("https://"+d.httpAddr, d.accessKey(), hc)
	r, err := c.GenerateRandom(context.Background(), &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(16)})
	if err != nil || len(r.Plaintext) != 16 {
		t.Fatalf("GenerateRandom over TLS: %v\n%s", err, d.log)
	}
	resp, err := http.Get("http://" + d.httpAddr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("plain /healthz next to TLS: %v", err)
	}
	resp.Body.Close()
}

// TestAWSCLI runs the AWS CLI against kmsd: create-key, create-alias,
// encrypt and decrypt of a file with an encryption context,
// generate-data-key, schedule-key-deletion; and a wrong secret. CI
// installs the CLI (Debian awscli); without it the test fails under CI
// and is skipped elsewhere.
func TestAWSCLI(t *testing.T) {
	bin, err := exec.LookPath("aws")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the AWS CLI (aws) is not installed; .ci/run installs Debian's awscli")
		}
		t.Skip("the AWS CLI (aws) is not installed: apt-get install awscli to run this test")
	}
	d := startDaemon(t)
	dir := t.TempDir()
	cfg := write(t, dir, "aws-config", nil)
	creds := d.accessKey()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	env = append(env, "AWS_ACCESS_KEY_ID="+creds.AccessKeyID, "AWS_SECRET_ACCESS_KEY="+creds.SecretAccessKey,
		"AWS_DEFAULT_REGION=us-east-1", "AWS_CONFIG_FILE="+cfg, "AWS_SHARED_CREDENTIALS_FILE="+cfg,
		"AWS_EC2_METADATA_DISABLED=true", "AWS_PAGER=")
	run := func(env []string, args ...string) (map[string]any, string, error) {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"kms", "--endpoint-url", "http://" + d.httpAddr, "--output", "json"}, args...)...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		m := map[string]any{}
		if err == nil && out.Len() > 0 {
			if jerr := json.Unmarshal(out.Bytes(), &m); jerr != nil {
				t.Fatalf("aws %v: %v: %s", args, jerr, out.String())
			}
		}
		return m, errb.String(), err
	}
	ok := func(args ...string) map[string]any {
		t.Helper()
		m, stderr, err := run(env, args...)
		if err != nil {
			t.Fatalf("aws kms %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return m
	}
	keyID := str(ok("create-key", "--description", "made by the AWS CLI"), "KeyMetadata.KeyId")
	ok("create-alias", "--alias-name", "alias/cli", "--target-key-id", keyID)
	plain := []byte("file contents\x00\x01 through the AWS CLI")
	pt := write(t, dir, "plain.bin", plain)
	enc := ok("encrypt", "--key-id", "alias/cli", "--plaintext", "fileb://"+pt, "--encryption-context", "purpose=cli,team=storage")
	ct := write(t, dir, "ct.bin", decodeB64(t, str(enc, "CiphertextBlob")))
	dec := ok("decrypt", "--ciphertext-blob", "fileb://"+ct, "--encryption-context", "purpose=cli,team=storage")
	if got := decodeB64(t, str(dec, "Plaintext")); !bytes.Equal(got, plain) || !strings.HasSuffix(str(dec, "KeyId"), keyID) {
		t.Fatalf("aws kms decrypt: %q %v", got, dec)
	}
	if _, stderr, err := run(env, "decrypt", "--ciphertext-blob", "fileb://"+ct, "--encryption-context", "purpose=other"); err == nil ||
		!strings.Contains(stderr, "InvalidCiphertextException") {
		t.Fatalf("decrypt under another context: %v %s", err, stderr)
	}
	dk := ok("generate-data-key", "--key-id", "alias/cli", "--key-spec", "AES_256")
	if key := decodeB64(t, str(dk, "Plaintext")); len(key) != 32 || str(dk, "CiphertextBlob") == "" {
		t.Fatalf("generate-data-key: %v", dk)
	}
	sd := ok("schedule-key-deletion", "--key-id", keyID, "--pending-window-in-days", "7")
	if str(sd, "KeyState") != "PendingDeletion" || field(sd, "DeletionDate") == nil {
		t.Fatalf("schedule-key-deletion: %v", sd)
	}
	wrong := append(append([]string{}, env...), "AWS_SECRET_ACCESS_KEY="+base64.StdEncoding.EncodeToString(make([]byte, 30)))
	if _, stderr, err := run(wrong, "list-keys"); err == nil || !strings.Contains(stderr, "InvalidSignatureException") {
		t.Fatalf("a wrong secret: %v %s", err, stderr)
	}
}
