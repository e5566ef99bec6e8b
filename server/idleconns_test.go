package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestIdleConnectionsX5 (test plan X5): 1,000 TCP connections that never
// speak, 50 that start a TLS handshake and stall, and 10 that finish the
// TLS and HTTP/2 handshakes and then stay idle. The first two kinds are
// closed within the handshake timeout of their acceptance, the last within
// the idle timeout (plus gRPC's 5 s of GOAWAY grace); the server never holds
// more than MaxConnections sockets (test plan: < 2 × the limit), and serves
// a normal client afterwards.
func TestIdleConnectionsX5(t *testing.T) {
	const silent, stalled, idle, limit = 1000, 50, 10, 200
	const handshake, idleTimeout = 300 * time.Millisecond, time.Second
	srv, addr, clientTLS := newTLSServer(t, ConnLimits{HandshakeTimeout: handshake, IdleTimeout: idleTimeout, MaxConnections: limit})
	port := addr[strings.LastIndexByte(addr, ':')+1:]

	var peak atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			n := serverSockets(t, port)
			if int64(n) > peak.Load() {
				peak.Store(int64(n))
			}
			select {
			case <-stopSampling:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	closedBy := map[string]time.Duration{}
	note := func(kind string, d time.Duration) {
		mu.Lock()
		closedBy[kind] = max(closedBy[kind], d)
		mu.Unlock()
	}
	for i := range silent + stalled {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			kind := "silent"
			if i < stalled {
				kind = "stalled TLS"
				// A TLS record header announcing a 512-byte ClientHello,
				// and only its first bytes.
				c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03})
			}
			waitClosed(t, c, 30*time.Second)
			note(kind, time.Since(start))
		}()
	}
	for range idle {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.Dial("tcp", addr, clientTLS)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			opened := time.Now()
			io.WriteString(c, http2.ClientPreface)
			http2.NewFramer(c, nil).WriteSettings()
			waitClosed(t, c, 30*time.Second)
			note("idle HTTP/2", time.Since(opened))
		}()
	}
	wg.Wait()
	close(stopSampling)
	<-sampled

	rounds := (silent + stalled + idle + limit - 1) / limit
	t.Logf("silent TCP: all %d closed %v after the start; stalled TLS: all %d closed by %v; %d accepted at a time, %v handshake timeout (%d rounds: %v)",
		silent, closedBy["silent"], stalled, closedBy["stalled TLS"], limit, handshake, rounds, time.Duration(rounds)*handshake)
	t.Logf("idle HTTP/2: closed at most %v after opening (idle timeout %v + 5 s GOAWAY grace)", closedBy["idle HTTP/2"], idleTimeout)
	t.Logf("server sockets: at most %d at once (limit %d)", peak.Load(), limit)
	if bound := time.Duration(rounds+2)*handshake + 2*time.Second; closedBy["silent"] > bound || closedBy["stalled TLS"] > bound {
		t.Errorf("handshake-phase connections closed by %v and %v; want within %v", closedBy["silent"], closedBy["stalled TLS"], bound)
	}
	if bound := idleTimeout + 5*time.Second + 2*time.Second; closedBy["idle HTTP/2"] > bound {
		t.Errorf("idle connections closed after %v; want within %v", closedBy["idle HTTP/2"], bound)
	}
	if p := peak.Load(); p > limit+2 || p < limit/2 {
		t.Errorf("at most %d server sockets at once; want about the limit of %d (never 2x)", p, limit)
	}
	// A normal client is served afterwards.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(clientTLS)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := kmsv1.NewKeyManagementServiceClient(conn).GenerateRandom(context.Background(),
		&kmsv1.GenerateRandomRequest{NumberOfBytes: 8}); err != nil {
		t.Fatalf("a call after the flood: %v", err)
	}
	_ = srv
}

// waitClosed reads from c until the server closes it (or d passes, which
// fails the test).
func waitClosed(t *testing.T, c net.Conn, d time.Duration) {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Errorf("connection still open after %v", d)
	}
}

// newTLSServer serves a Server over TLS with the given connection limits,
// through its Listener, and returns the address and a client TLS config.
func newTLSServer(t *testing.T, limits ConnLimits) (*Server, string, *tls.Config) {
	t.Helper()
	store, err := keystore.Open(t.TempDir(), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	root, _ := envelope.GenerateKey(rand.Reader)
	srv, err := New(Config{Store: store, Proposer: &directProposer{store: store}, RootKey: root, DisableAudit: true,
		Connections: limits})
	if err != nil {
		t.Fatal(err)
	}
	cert, pool := selfSigned(t)
	g := grpc.NewServer(append(srv.ServerOptions(), grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(srv.Listener(lis))
	t.Cleanup(func() { g.Stop(); srv.Close() })
	return srv, lis.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", NextProtos: []string{"h2"}}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kmsd test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// serverSockets counts this process's open sockets whose local port is
// port, other than listening ones: the server's side of its connections
// (read from /proc/self/fd and /proc/net/tcp{,6}).
func serverSockets(t *testing.T, port string) int {
	p, _ := strconv.ParseUint(port, 10, 16)
	want := fmt.Sprintf(":%04X", p)
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			fs := strings.Fields(line)
			if len(fs) > 9 && strings.HasSuffix(fs[1], want) && fs[3] != "0A" {
				inodes[fs[9]] = true
			}
		}
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Error(err)
		return 0
	}
	n := 0
	for _, fd := range fds {
		l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			n++
		}
	}
	return n
}
