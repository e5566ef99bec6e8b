package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
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
	"github.com/kmsd/kmsd/cluster"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// TestTLSCluster runs three members with certificates made by "kmsd tls":
// Raft and forwarding go over mutual TLS, the API serves TLS that kmsctl
// verifies against the CA, and the API port accepts client certificates
// from the CA only (S5, the client API port). A SIGKILLed leader is
// replaced and rejoins over TLS.
func TestTLSCluster(t *testing.T) {
	base := t.TempDir()
	pki := filepath.Join(base, "tls")
	mustKmsd(t, "tls", "ca", "--dir", pki)
	for i := range 3 {
		mustKmsd(t, "tls", "node", "--dir", pki, "--node-id", "n"+string(rune('0'+i)), "--hosts", "127.0.0.1,localhost")
	}
	mustKmsd(t, "tls", "client", "--dir", pki, "--name", "app")
	other := filepath.Join(base, "other")
	mustKmsd(t, "tls", "ca", "--dir", other)
	mustKmsd(t, "tls", "client", "--dir", other, "--name", "intruder")
	if out, code := runKmsd(t, "tls", "node", "--dir", pki, "--node-id", "n0"); code == 0 {
		t.Fatalf("kmsd tls node overwrote a certificate: %s", out)
	}
	for _, f := range []string{"ca-key.pem", "n0-key.pem", "client-app-key.pem"} {
		if fi, err := os.Stat(filepath.Join(pki, f)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
	}
	caFile := filepath.Join(pki, "ca.pem")
	roots := x509.NewCertPool()
	caPEM, err := os.ReadFile(caFile)
	if err != nil || !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("reading the CA", err)
	}

	ds := startClusterWith(t, base, 3, func(d *daemon, id string) []string {
		d.creds = credentials.NewTLS(&tls.Config{RootCAs: roots})
		d.ctlEnv = []string{"KMS_CA_BUNDLE=" + caFile}
		return []string{"--tls-cert-file", filepath.Join(pki, id+".pem"), "--tls-key-file", filepath.Join(pki, id+"-key.pem"), "--tls-ca-file", caFile}
	})
	leader := leaderOf(t, ds)
	f := without(ds, leader)[0]

	// Through a follower: forwarded to the leader over TLS.
	keyID := str(f.ok("create-key", "--description", "over TLS"), "KeyMetadata.KeyId")
	blob := str(f.ok("encrypt", "--key-id", keyID, "--plaintext", b64("secret")), "CiphertextBlob")
	if got := str(leader.ok("decrypt", "--ciphertext-blob", blob), "Plaintext"); got != b64("secret") {
		t.Fatalf("decrypt on the leader: %q", got)
	}
	cs := f.ok("cluster", "status")
	for _, m := range field(cs, "Members").([]any) {
		if e, _ := m.(map[string]any)["Error"].(string); e != "" {
			t.Fatalf("cluster status could not reach a member over TLS: %v", m)
		}
	}

	// kmsctl: the clear, or TLS against another CA, does not connect.
	plain := f.ctlWithEnv([]string{"KMS_CA_BUNDLE="}, "list-keys")
	foreign := f.ctlWithEnv([]string{"KMS_CA_BUNDLE=" + filepath.Join(other, "ca.pem")}, "list-keys")
	for name, r := range map[string]result{"plaintext": plain, "foreign CA": foreign} {
		if r.code != 255 || !strings.Contains(r.stderr, "Could not connect") {
			t.Errorf("kmsctl %s: exit %d %s", name, r.code, r.stderr)
		}
	}
	if r := f.ctlWithEnv([]string{"KMS_CA_BUNDLE="}, "--endpoint", "https://"+f.grpcAddr, "--ca-bundle", caFile, "list-keys"); r.code != 0 {
		t.Errorf("kmsctl --endpoint https:// --ca-bundle: exit %d %s", r.code, r.stderr)
	}

	// S5, the API port: which client certificates it accepts.
	ca, err := cluster.LoadCA(caFile, filepath.Join(pki, "ca-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	cells := []struct {
		name       string
		cert       *tls.Certificate
		serverName string
		want       bool
	}{
		{"no certificate", nil, "", true},
		{"client certificate of the CA", loadPair(t, pki, "client-app"), "", true},
		{"member certificate of the CA", loadPair(t, pki, "n0"), "", true},
		{"client certificate of another CA", loadPair(t, other, "client-intruder"), "", false},
		{"expired client certificate", customClient(t, ca, now.Add(-2*time.Hour), now.Add(-time.Hour)), "", false},
		{"not yet valid client certificate", customClient(t, ca, now.Add(time.Hour), now.Add(2*time.Hour)), "", false},
		{"server name not in the member's certificate", nil, "kmsd.example.com", false},
	}
	for _, c := range cells {
		cfg := &tls.Config{RootCAs: roots, ServerName: c.serverName}
		if c.cert != nil {
			cfg.Certificates = []tls.Certificate{*c.cert}
		}
		conn, err := grpc.NewClient(f.grpcAddr, append(auth.DialOptions(f.accessKey()), grpc.WithTransportCredentials(credentials.NewTLS(cfg)))...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = kmsv1.NewKeyManagementServiceClient(conn).ListKeys(ctx, &kmsv1.ListKeysRequest{})
		cancel()
		conn.Close()
		if (err == nil) != c.want {
			t.Errorf("%s: call succeeded = %v (%v), want %v", c.name, err == nil, err, c.want)
		}
	}

	// Forwarding is for members only: an application's certificate from the
	// same CA is refused before anything else is looked at.
	for _, c := range []struct {
		who  string
		cert *tls.Certificate
		want string
	}{
		{"client-app", loadPair(t, pki, "client-app"), "cluster member"},
		{"n0", loadPair(t, pki, "n0"), "not authenticated"},
	} {
		conn, err := grpc.NewClient(leader.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(
			&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{*c.cert}})))
		if err != nil {
			t.Fatal(err)
		}
		_, err = clusterv1.NewForwardServiceClient(conn).Apply(context.Background(), &clusterv1.ForwardRequest{Command: []byte("x"), Mac: []byte("forged")})
		conn.Close()
		if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), c.want) {
			t.Errorf("forward with the %s certificate: %v, want PermissionDenied mentioning %q", c.who, err, c.want)
		}
	}

	// Failover over TLS.
	leader.kill()
	survivors := without(ds, leader)
	waitFor(t, "a new leader", func() bool {
		r := survivors[0].ctl(nil, "create-key", "--description", "after the kill")
		return r.code == 0
	})
	leader.launch()
	if err := leader.waitReady(30 * time.Second); err != nil {
		t.Fatalf("the killed member did not come back: %v\n%s", err, leader.log)
	}
	checkInvariants(t, ds)
}

func mustKmsd(t *testing.T, args ...string) {
	t.Helper()
	if out, code := runKmsd(t, args...); code != 0 {
		t.Fatalf("kmsd %v: exit %d\n%s", args, code, out)
	}
}

// ctlWithEnv runs kmsctl with env added after the daemon's own.
func (d *daemon) ctlWithEnv(env []string, args ...string) result {
	d.t.Helper()
	saved := d.ctlEnv
	d.ctlEnv = append(append([]string(nil), saved...), env...)
	defer func() { d.ctlEnv = saved }()
	return d.ctl(nil, args...)
}

func loadPair(t *testing.T, dir, base string) *tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, base+".pem"), filepath.Join(dir, base+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// customClient issues a client certificate with the given validity.
func customClient(t *testing.T, ca *cluster.CA, notBefore, notAfter time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "custom"},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := tls.X509KeyPair(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	return &c
}
