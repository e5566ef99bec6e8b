package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestClientCertificatePrincipal: a client certificate made with
// "kmsd tls client --user-arn --user-id" stands for that IAM user on an
// unsigned call, with exactly the user's permissions; certificates that
// name no user, a user that does not exist, another user id, or a user
// since deleted (even once made again under the same name) do not
// authenticate; a signature wins over the certificate; the audit record
// names the certificate.
func TestClientCertificatePrincipal(t *testing.T) {
	pki := filepath.Join(t.TempDir(), "tls")
	mustKmsd(t, "tls", "ca", "--dir", pki)
	mustKmsd(t, "tls", "node", "--dir", pki, "--node-id", "n0", "--hosts", "127.0.0.1")
	const account = "111122223333"
	const someID = "AIDAEXAMPLEEXAMPLE000"
	mustKmsd(t, "tls", "client", "--dir", pki, "--name", "nobody")
	for _, bad := range [][]string{
		{"--user-arn", "arn:aws:iam::" + account + ":role/admin", "--user-id", someID},
		{"--user-arn", "alice", "--user-id", someID},
		{"--user-arn", "https://example.com/user/alice", "--user-id", someID},
		{"--user-arn", "arn:aws:iam::" + account + ":user/alice"},
		{"--user-id", someID},
		{"--user-arn", "arn:aws:iam::" + account + ":user/alice", "--user-id", "aida-lower"},
	} {
		if out, code := runKmsd(t, append([]string{"tls", "client", "--dir", pki, "--name", "bad"}, bad...)...); code == 0 {
			t.Errorf("kmsd tls client %q was accepted: %s", bad, out)
		}
	}
	caFile := filepath.Join(pki, "ca.pem")
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(caFile)
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("reading the CA", err)
	}
	d := newDaemon(t, "--tls-cert-file", filepath.Join(pki, "n0.pem"), "--tls-key-file", filepath.Join(pki, "n0-key.pem"), "--tls-ca-file", caFile)
	d.creds = credentials.NewTLS(&tls.Config{RootCAs: roots})
	d.ctlEnv = []string{"KMS_CA_BUNDLE=" + caFile}
	d.start()

	keyID := str(d.ok("create-key"), "KeyMetadata.KeyId")
	aliceID := str(d.ok("iam", "create-user", "--user-name", "alice"), "User.UserId")
	mustKmsd(t, "tls", "client", "--dir", pki, "--name", "alice", "--user-arn", "arn:aws:iam::"+account+":user/alice", "--user-id", aliceID)
	mustKmsd(t, "tls", "client", "--dir", pki, "--name", "alice-other-id", "--user-arn", "arn:aws:iam::"+account+":user/alice", "--user-id", someID)
	mustKmsd(t, "tls", "client", "--dir", pki, "--name", "ghost", "--user-arn", "arn:aws:iam::"+account+":user/ghost", "--user-id", someID)
	mustKmsd(t, "tls", "client", "--dir", pki, "--name", "other-account", "--user-arn", "arn:aws:iam::444455556666:user/alice", "--user-id", aliceID)
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*"}]}`
	path := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	d.ok("iam", "put-user-policy", "--user-name", "alice", "--policy-name", "use-keys", "--policy-document", "file://"+path)

	// conn connects with the named client certificate, signing calls with
	// signer's credentials when given.
	conn := func(cert string, signer *auth.Credentials) *grpc.ClientConn {
		cfg := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{*loadPair(t, pki, "client-"+cert)}}
		opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
		if signer != nil {
			opts = append(opts, auth.DialOptions(*signer)...)
		}
		c, err := grpc.NewClient(d.grpcAddr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	whoami := func(c *grpc.ClientConn) (string, error) {
		r, err := kmsv1.NewSecurityTokenServiceClient(c).GetCallerIdentity(ctx, &kmsv1.GetCallerIdentityRequest{})
		return r.GetArn(), err
	}

	alice := conn("alice", nil)
	if arn, err := whoami(alice); err != nil || arn != "arn:aws:iam::"+account+":user/alice" {
		t.Fatalf("GetCallerIdentity with alice's certificate: %q, %v", arn, err)
	}
	kms := kmsv1.NewKeyManagementServiceClient(alice)
	enc, err := kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("by certificate")})
	if err != nil {
		t.Fatalf("Encrypt allowed by alice's policy: %v", err)
	}
	dec, err := kms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
	if err != nil || string(dec.GetPlaintext()) != "by certificate" {
		t.Fatalf("Decrypt: %v", err)
	}
	for name, call := range map[string]func() error{
		"CreateKey":   func() error { _, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); return err },
		"DisableKey":  func() error { _, err := kms.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: keyID}); return err },
		"DescribeKey": func() error { _, err := kms.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID}); return err },
	} {
		if err := call(); status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s with alice's certificate (not in her policy): %v, want AccessDeniedException", name, err)
		}
	}

	// Certificates that stand for nobody leave the call unsigned.
	for _, cert := range []string{"nobody", "ghost", "other-account", "alice-other-id"} {
		if arn, err := whoami(conn(cert, nil)); status.Code(err) != codes.Unauthenticated {
			t.Errorf("unsigned call with the %s certificate: %q, %v, want UnauthenticatedException", cert, arn, err)
		}
	}
	// A signature names the caller, whatever the certificate.
	root := d.accessKey()
	if arn, err := whoami(conn("alice", &root)); err != nil || !strings.HasSuffix(arn, ":root") {
		t.Errorf("signed by the root over alice's certificate: %q, %v, want the root", arn, err)
	}

	// The audit record names the certificate in the access key's place.
	var found bool
	for _, e := range d.auditRecords() {
		r := e.GetRecord()
		if bytes.Contains(r, []byte(`"eventName":"Encrypt"`)) && bytes.Contains(r, []byte(`user/alice"`)) {
			found = bytes.Contains(r, []byte(`"accessKeyId":"x509:sha256:`))
		}
	}
	if !found {
		t.Error("no Encrypt record of alice naming her certificate's fingerprint")
	}

	// Deleting the user ends the certificate's use.
	d.ok("iam", "delete-user-policy", "--user-name", "alice", "--policy-name", "use-keys")
	d.ok("iam", "delete-user", "--user-name", "alice")
	if _, err := kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("Encrypt with the certificate of a deleted user: %v, want UnauthenticatedException", err)
	}
	// A new user of the same name and path is another user: another id.
	d.ok("iam", "create-user", "--user-name", "alice")
	if _, err := whoami(alice); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the certificate of the deleted alice works for the new alice: %v", err)
	}
}
