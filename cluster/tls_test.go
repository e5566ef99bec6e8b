package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/kmsd/kmsd/keystore"
)

var peerFlood = flag.Int("peer-flood", 2000, "connection attempts without a member certificate in TestPeerPortFlood (X6: 10000)")

// testPKI is a cluster CA and a foreign one, with files in a directory.
type testPKI struct {
	t       *testing.T
	dir     string
	ca      *CA
	foreign *CA
	caFile  string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	ca, err := NewCA("kmsd test CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := NewCA("someone else's CA", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	p := &testPKI{t: t, dir: t.TempDir(), ca: ca, foreign: foreign}
	p.caFile = filepath.Join(p.dir, "ca.pem")
	if err := os.WriteFile(p.caFile, ca.CertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certKinds are the certificates of the S5 matrix.
var certKinds = []string{"member", "client", "foreign-ca", "expired", "not-yet-valid", "wrong-san", "server-only", "none"}

// issue writes a certificate of the given kind and returns its files
// ("" for none).
func (p *testPKI) issue(name, kind string) (certFile, keyFile string) {
	t := p.t
	t.Helper()
	var certPEM, keyPEM []byte
	var err error
	now := time.Now()
	switch kind {
	case "none":
		return "", ""
	case "member":
		certPEM, keyPEM, err = p.ca.IssueNodeCert(name, []string{"127.0.0.1", "localhost"}, time.Hour)
	case "client":
		certPEM, keyPEM, err = p.ca.IssueClientCert(name, "", "", time.Hour)
	case "foreign-ca":
		certPEM, keyPEM, err = p.foreign.IssueNodeCert(name, []string{"127.0.0.1"}, time.Hour)
	case "expired":
		certPEM, keyPEM = p.custom(p.ca, []string{PeerName}, now.Add(-2*time.Hour), now.Add(-time.Hour), true)
	case "not-yet-valid":
		certPEM, keyPEM = p.custom(p.ca, []string{PeerName}, now.Add(time.Hour), now.Add(2*time.Hour), true)
	case "wrong-san":
		certPEM, keyPEM = p.custom(p.ca, []string{"peer.kmsd.internal.evil.example", "other.kmsd.internal"}, now.Add(-time.Minute), now.Add(time.Hour), true)
	case "server-only":
		// Names PeerName but may not act as a client.
		certPEM, keyPEM = p.custom(p.ca, []string{PeerName}, now.Add(-time.Minute), now.Add(time.Hour), false)
	default:
		t.Fatalf("unknown kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, name+"-"+kind+".pem")
	keyFile = filepath.Join(p.dir, name+"-"+kind+"-key.pem")
	if err := WriteCertFiles(certFile, certPEM, keyFile, keyPEM); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// custom issues a certificate with the given names and validity; client
// adds the client-auth usage.
func (p *testPKI) custom(ca *CA, dns []string, notBefore, notAfter time.Time, client bool) ([]byte, []byte) {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		p.t.Fatal(err)
	}
	serial, _ := newSerial()
	eku := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	if client {
		eku = append(eku, x509.ExtKeyUsageClientAuth)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "custom"}, DNSNames: dns,
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: eku}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		p.t.Fatal(err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		p.t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), kp
}

// memberTLS is the TLS configuration of a member with a member certificate.
func (p *testPKI) memberTLS(name string) *TLSConfig {
	p.t.Helper()
	cert, key := p.issue(name, "member")
	tc, err := LoadTLS(cert, key, p.caFile)
	if err != nil {
		p.t.Fatal(err)
	}
	return tc
}

// clientTLS is a client configuration presenting a certificate of kind
// (none: no certificate), trusting the cluster CA.
func (p *testPKI) clientTLS(kind string) *tls.Config {
	p.t.Helper()
	cert, key := p.issue("caller", kind)
	cfg := (&TLSConfig{CAs: poolOf(p.ca)}).ClientConfig()
	cfg.GetClientCertificate = nil
	if cert != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			p.t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg
}

func poolOf(ca *CA) *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return pool
}

// dialLayer is a raft stream layer that only dials, with a given TLS
// configuration.
type dialLayer struct {
	net.Listener
	cfg *tls.Config
}

func (d *dialLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, "tcp", string(addr), d.cfg)
}

// raftCall sends one AppendEntries (a stale heartbeat, harmless) to addr
// and reports the error, nil if raft answered.
func raftCall(t *testing.T, cfg *tls.Config, addr string) error {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	trans := raft.NewNetworkTransport(&dialLayer{Listener: l, cfg: cfg}, 1, 2*time.Second, nil)
	defer trans.Close()
	var resp raft.AppendEntriesResponse
	return trans.AppendEntries("node1", raft.ServerAddress(addr), &raft.AppendEntriesRequest{
		RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("caller"), Addr: []byte(l.Addr().String())}}, &resp)
}

// TestPeerPortTLSMatrix (S5, the Raft port): only a member certificate from
// the cluster CA that names PeerName and may act as a client reaches raft.
func TestPeerPortTLSMatrix(t *testing.T) {
	p := newTestPKI(t)
	tn := newTestNode(t)
	tn.cfg.TLS = p.memberTLS("node1")
	tn.start()
	if err := tn.apply(testKey("k1")); err != nil {
		t.Fatalf("the node does not work over TLS: %v", err)
	}
	addr := tn.node.Addr()
	for _, kind := range certKinds {
		err := raftCall(t, p.clientTLS(kind), addr)
		if want := kind == "member"; (err == nil) != want {
			t.Errorf("%s certificate: raft answered = %v (err %v), want %v", kind, err == nil, err, want)
		}
	}
	// Plain TCP is not TLS.
	if err := raftCallPlain(t, addr); err == nil {
		t.Error("plain TCP reached raft")
	}
}

func raftCallPlain(t *testing.T, addr string) error {
	t.Helper()
	trans, err := raft.NewTCPTransport("127.0.0.1:0", nil, 1, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer trans.Close()
	var resp raft.AppendEntriesResponse
	return trans.AppendEntries("node1", raft.ServerAddress(addr), &raft.AppendEntriesRequest{RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("x")}}, &resp)
}

// TestPeerDialVerifiesTheServer (S5, the other direction): a member connects
// only to a server whose certificate comes from the cluster CA and names
// PeerName (host name verification against it).
func TestPeerDialVerifiesTheServer(t *testing.T) {
	p := newTestPKI(t)
	self := p.memberTLS("self")
	for _, kind := range []string{"member", "client", "foreign-ca", "expired", "not-yet-valid", "wrong-san"} {
		cert, key := p.issue("server", kind)
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			t.Fatal(err)
		}
		l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c}, ClientAuth: tls.RequestClientCert})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			if c, err := l.Accept(); err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", l.Addr().String(), self.ClientConfig())
		if conn != nil {
			conn.Close()
		}
		l.Close()
		if want := kind == "member"; (err == nil) != want {
			t.Errorf("server with a %s certificate: connected = %v (%v), want %v", kind, err == nil, err, want)
		}
	}
}

// TestPeerPortFlood (X6): connection attempts without a member certificate
// are refused at TLS, never reach raft, and leave no memory or goroutines
// behind. -peer-flood=10000 in the soak tier.
func TestPeerPortFlood(t *testing.T) {
	p := newTestPKI(t)
	tn := newTestNode(t)
	tn.cfg.TLS = p.memberTLS("node1")
	tn.start()
	addr := tn.node.Addr()
	kinds := []*tls.Config{p.clientTLS("none"), p.clientTLS("client"), p.clientTLS("foreign-ca"), p.clientTLS("wrong-san")}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()
	var accepted, attempts atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < *peerFlood; i += 8 {
				attempts.Add(1)
				cfg := kinds[i%len(kinds)]
				if i%5 == 4 {
					// Not TLS at all: a raft RPC in the clear.
					if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
						c.Write([]byte{0, 0, 0, 0, 0, 0, 0, 0})
						c.SetReadDeadline(time.Now().Add(2 * time.Second))
						if _, err := c.Read(make([]byte, 1)); err == nil {
							accepted.Add(1)
						}
						c.Close()
					}
					continue
				}
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, cfg)
				if err != nil {
					continue
				}
				// With TLS 1.3 the server's refusal comes after the
				// client's side of the handshake: read it.
				c.SetReadDeadline(time.Now().Add(2 * time.Second))
				_, err = c.Read(make([]byte, 1))
				var ne net.Error
				if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
					accepted.Add(1)
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d of %d connections without a member certificate were kept open", n, attempts.Load())
	}
	layer := tn.node.peerTLS
	waitFor(t, "handshakes to finish", func() bool { return len(layer.pending) == 0 })
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("%d attempts refused (%d counted at the port); heap in use %+.1f MB; goroutines %d -> %d",
		attempts.Load(), layer.rejected.Load(), float64(growth)/1e6, goroutines, runtime.NumGoroutine())
	if growth > 20<<20 {
		t.Errorf("heap grew by %.1f MB, want < 20 MB", float64(growth)/1e6)
	}
	if g := runtime.NumGoroutine(); g > goroutines+20 {
		t.Errorf("goroutines %d -> %d", goroutines, g)
	}
	if err := tn.apply(testKey("after-the-flood")); err != nil {
		t.Fatalf("the node stopped working: %v", err)
	}
}

// TestLoadTLSRefusesNonMemberCertificates: kmsd does not start with a
// certificate other members would refuse.
func TestLoadTLSRefusesNonMemberCertificates(t *testing.T) {
	p := newTestPKI(t)
	for _, kind := range []string{"client", "foreign-ca", "expired", "wrong-san", "server-only"} {
		cert, key := p.issue("n", kind)
		if _, err := LoadTLS(cert, key, p.caFile); err == nil || !strings.Contains(err.Error(), "not a member certificate") {
			t.Errorf("%s certificate: LoadTLS = %v", kind, err)
		}
	}
	if _, err := LoadTLS(filepath.Join(p.dir, "missing.pem"), filepath.Join(p.dir, "missing-key.pem"), p.caFile); err == nil {
		t.Error("missing files accepted")
	}
}

func testKey(id string) *keystore.Mutation {
	return &keystore.Mutation{Op: keystore.OpCreateKey, Time: t0, Key: &keystore.Key{
		ID: id, State: keystore.Enabled, Origin: keystore.OriginAWSKMS, CreationDate: t0,
		Versions: []keystore.Version{{MaterialID: "m", Wrapped: []byte("sealed"), CreationDate: t0}},
	}}
}
