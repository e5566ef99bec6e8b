package server

import (
	"net"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/kmsd/kmsd/cluster"
)

// ConnLimits bound what one client connection may hold of the server, so
// that a noisy or hostile client cannot starve the others. Zero fields take
// the defaults (DefaultConnLimits).
type ConnLimits struct {
	// MaxConcurrentStreams bounds the calls one connection runs at once;
	// gRPC runs no more handlers than this per connection, whatever the
	// client opens and resets (the HTTP/2 rapid-reset pattern).
	MaxConcurrentStreams uint32
	// HandshakeTimeout bounds the time from accepting a connection to the
	// end of its TLS and HTTP/2 handshakes; a client that stalls is
	// dropped.
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection with no call in progress for this
	// long (after a GOAWAY and at most 5 s of grace).
	IdleTimeout time.Duration
	// KeepaliveMinTime is the shortest interval at which a client may send
	// keepalive pings; a client that pings more often is disconnected.
	KeepaliveMinTime time.Duration
	// MaxConnections bounds the open connections (Listener); further ones
	// wait in the kernel's accept queue. Negative: no limit.
	MaxConnections int
}

// DefaultConnLimits are the limits of kmsd's gRPC API.
var DefaultConnLimits = ConnLimits{
	MaxConcurrentStreams: 128,
	HandshakeTimeout:     10 * time.Second,
	IdleTimeout:          15 * time.Minute,
	KeepaliveMinTime:     10 * time.Second,
	MaxConnections:       4096,
}

// withDefaults fills the zero fields of c from DefaultConnLimits.
func (c ConnLimits) withDefaults() ConnLimits {
	d := DefaultConnLimits
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = d.MaxConcurrentStreams
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = d.HandshakeTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.KeepaliveMinTime <= 0 {
		c.KeepaliveMinTime = d.KeepaliveMinTime
	}
	if c.MaxConnections == 0 {
		c.MaxConnections = d.MaxConnections
	}
	return c
}

// Limits of the gRPC API.
const (
	// MaxRequestBytes bounds one request message. The largest valid request
	// (ReEncrypt of a 6 KiB ciphertext with two maximal contexts) is far below.
	MaxRequestBytes = 64 << 10
)

// ServerOptions returns the grpc.ServerOptions kmsd's API needs: message
// size and connection limits (Config.Connections) and the interceptors that
// authenticate, limit, audit, map errors, recover panics and log, and the
// guard against rapid resets (resetguard.go).
func (s *Server) ServerOptions() []grpc.ServerOption {
	c := s.conns
	return []grpc.ServerOption{
		// Forwarded cluster commands (audit batches) are larger than any
		// API request; the interceptor holds API requests to
		// MaxRequestBytes.
		grpc.MaxRecvMsgSize(cluster.MaxForwardBytes),
		grpc.MaxConcurrentStreams(c.MaxConcurrentStreams),
		grpc.NumStreamWorkers(c.MaxConcurrentStreams),
		grpc.ConnectionTimeout(c.HandshakeTimeout),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: c.KeepaliveMinTime, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: c.IdleTimeout}),
		grpc.StatsHandler(s.guard),
		grpc.InTapHandle(s.guard.tap),
		grpc.ChainUnaryInterceptor(s.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.streamInterceptor),
	}
}

// Listener bounds l to Config.Connections.MaxConnections open connections,
// and lets the server close a connection whose client cancels most calls
// it opens and refuse its address for a while (resetguard.go). Serve the
// gRPC server on it.
func (s *Server) Listener(l net.Listener) net.Listener {
	// The refused connections are held below the limit: they do not
	// count against it (at most maxHeld more file descriptors). A
	// connection the guard closes frees its place once gRPC has seen it
	// close.
	l = &trackingListener{Listener: l, g: s.guard}
	if s.conns.MaxConnections >= 0 {
		l = netutil.LimitListener(l, s.conns.MaxConnections)
	}
	return l
}
