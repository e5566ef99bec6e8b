package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
)

// PeerName is the DNS name every member's certificate carries, besides its
// own host names. Members verify each other against it: on the Raft port
// and for forwarded commands, a certificate from the cluster CA is accepted
// only if it names PeerName, so a client certificate issued by the same CA
// (to an application or an operator) cannot speak Raft or forward
// commands. Certificates made by IssueNodeCert carry it.
const PeerName = "peer.kmsd.internal"

// TLSConfig secures the traffic between members: the Raft transport and the
// commands followers forward to the leader.
type TLSConfig struct {
	// CertFile and KeyFile hold this member's certificate chain and key
	// (PEM). They are read again when they change, so certificates can be
	// renewed without a restart.
	CertFile, KeyFile string
	// CAs verifies the other members' certificates.
	CAs *x509.CertPool
}

// ErrNotPeer is returned for a connection whose certificate is not a
// member's.
var ErrNotPeer = errors.New("cluster: the certificate does not name a cluster member (" + PeerName + ")")

// LoadTLS reads the cluster CA from caFile and checks that certFile and
// keyFile hold a member certificate that the CA verifies.
func LoadTLS(certFile, keyFile, caFile string) (*TLSConfig, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cluster: TLS CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("cluster: TLS CA %s holds no PEM certificate", caFile)
	}
	t := &TLSConfig{CertFile: certFile, KeyFile: keyFile, CAs: pool}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// check verifies the member certificate against the CA, as a member
// connecting to this one would.
func (t *TLSConfig) check() error {
	c, err := t.reloader().get()
	if err != nil {
		return err
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return fmt.Errorf("cluster: TLS certificate %s: %w", t.CertFile, err)
	}
	inter := x509.NewCertPool()
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(ic)
		}
	}
	// A member is both server and client of the others.
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: PeerName, Roots: t.CAs, Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
			return fmt.Errorf("cluster: TLS certificate %s is not a member certificate of this CA: %w", t.CertFile, err)
		}
	}
	return nil
}

// ServerConfig is the configuration of a listener that only members may
// use: they must present a certificate from the CA that names PeerName.
func (t *TLSConfig) ServerConfig() *tls.Config {
	r := t.reloader()
	return &tls.Config{
		MinVersion:       tls.VersionTLS13,
		ClientAuth:       tls.RequireAndVerifyClientCert,
		ClientCAs:        t.CAs,
		GetCertificate:   func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.get() },
		VerifyConnection: verifyPeer,
	}
}

// ClientConfig is the configuration for connecting to another member: its
// certificate must come from the CA and name PeerName (checked by the
// standard host name verification), and this member presents its own.
func (t *TLSConfig) ClientConfig() *tls.Config {
	r := t.reloader()
	return &tls.Config{
		MinVersion:           tls.VersionTLS13,
		RootCAs:              t.CAs,
		ServerName:           PeerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return r.get() },
	}
}

// APIConfig is the configuration of a member's API port, which serves
// applications and operators as well as the other members' forwarded
// commands: it presents this member's certificate, and a client may
// present a certificate, which must then come from the CA.
func (t *TLSConfig) APIConfig() *tls.Config {
	r := t.reloader()
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      t.CAs,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return r.get() },
	}
}

// DialOption is the gRPC transport credential for calls to other members'
// API ports.
func (t *TLSConfig) DialOption() grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(t.ClientConfig()))
}

// verifyPeer accepts a verified client certificate only if it names
// PeerName.
func verifyPeer(cs tls.ConnectionState) error {
	if len(cs.PeerCertificates) == 0 || !slices.Contains(cs.PeerCertificates[0].DNSNames, PeerName) {
		return ErrNotPeer
	}
	return nil
}

// checkPeerCall refuses a gRPC call that did not come over TLS from a
// member certificate, when the cluster uses TLS. The API port also serves
// applications, whose certificates (if any) come from the same CA but do
// not name PeerName.
func (n *Node) checkPeerCall(ctx context.Context) error {
	if n.cfg.TLS == nil {
		return nil
	}
	p, ok := peer.FromContext(ctx)
	if !ok {
		return ErrNotPeer
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return ErrNotPeer
	}
	return verifyPeer(info.State)
}

var reloaders sync.Map // *TLSConfig -> *certReloader

func (t *TLSConfig) reloader() *certReloader {
	r, _ := reloaders.LoadOrStore(t, &certReloader{certFile: t.CertFile, keyFile: t.KeyFile})
	return r.(*certReloader)
}

// certReloader serves a certificate from files, reading them again when
// their modification time changes (checked at most once a second).
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	checked time.Time
	mod     [2]time.Time
}

func (r *certReloader) get() (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.cert != nil && now.Sub(r.checked) < time.Second {
		return r.cert, nil
	}
	r.checked = now
	var mod [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			if r.cert != nil {
				return r.cert, nil // keep serving the one loaded
			}
			return nil, fmt.Errorf("cluster: TLS: %w", err)
		}
		mod[i] = fi.ModTime()
	}
	if r.cert != nil && mod == r.mod {
		return r.cert, nil
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		if r.cert != nil {
			return r.cert, nil
		}
		return nil, fmt.Errorf("cluster: TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.mod = &c, mod
	return r.cert, nil
}

// Handshakes on the Raft port: how long one may take, and how many may be
// in progress; connections beyond that are closed at once.
const (
	peerHandshakeTimeout = 5 * time.Second
	maxPeerHandshakes    = 128
)

// tlsStreamLayer is raft's transport over TLS: every connection in either
// direction is between two members' certificates. A connection reaches
// raft only after its handshake succeeded; handshakes run concurrently,
// each bounded in time, so a peer that stalls one holds up nobody else,
// and a flood of connections without a member certificate costs a bounded
// number of goroutines and is refused at TLS.
type tlsStreamLayer struct {
	ln        net.Listener
	server    *tls.Config
	client    *tls.Config
	advertise net.Addr

	conns    chan net.Conn
	pending  chan struct{}
	ctx      context.Context // done once closed
	cancel   context.CancelFunc
	rejected atomic.Uint64
}

func newTLSStreamLayer(bind string, advertise net.Addr, t *TLSConfig) (*tlsStreamLayer, error) {
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = l.Addr()
	}
	if a, ok := advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() {
		l.Close()
		return nil, fmt.Errorf("local bind address %v is not advertisable", advertise)
	}
	s := &tlsStreamLayer{ln: l, server: t.ServerConfig(), client: t.ClientConfig(), advertise: advertise,
		conns: make(chan net.Conn), pending: make(chan struct{}, maxPeerHandshakes)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.acceptLoop()
	return s, nil
}

func (s *tlsStreamLayer) acceptLoop() {
	var backoff time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		select {
		case s.pending <- struct{}{}:
			go s.handshake(c)
		default:
			s.rejected.Add(1)
			c.Close()
		}
	}
}

func (s *tlsStreamLayer) handshake(raw net.Conn) {
	defer func() { <-s.pending }()
	c := tls.Server(raw, s.server)
	ctx, cancel := context.WithTimeout(s.ctx, peerHandshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(ctx); err != nil {
		s.rejected.Add(1)
		raw.Close()
		return
	}
	select {
	case s.conns <- c:
	case <-s.ctx.Done():
		c.Close()
	}
}

// Accept returns the next connection whose handshake succeeded.
func (s *tlsStreamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.ctx.Done():
		return nil, net.ErrClosed
	}
}

// Close stops accepting and ends the handshakes in progress.
func (s *tlsStreamLayer) Close() error {
	s.cancel()
	return s.ln.Close()
}

func (s *tlsStreamLayer) Addr() net.Addr { return s.advertise }

func (s *tlsStreamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: timeout}, Config: s.client}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, "tcp", string(addr))
}
