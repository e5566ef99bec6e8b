package server

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
)

// The HTTP/2 rapid-reset pattern (CVE-2023-44487): a client opens streams
// and cancels each at once, so the server starts work whose answer nobody
// waits for, as fast as the client can write frames. gRPC runs at most
// MaxConcurrentStreams handlers per connection, which bounds memory but
// not the CPU the churn takes from other clients. resetGuard closes a
// connection once its client has cancelled at least resetFloodMin calls and
// more than half of all it made, as HTTP/2 servers do for "premature
// resets". A client that cancels now and then is never near that.
const resetFloodMin = 100

// resetGuard is a stats.Handler that counts each connection's calls and
// cancellations, and a registry of the connections Listener accepted, so
// that it can close one.
type resetGuard struct {
	log *slog.Logger
	// closed is called for every connection closed (metrics), if set.
	closed func()

	mu    sync.Mutex
	conns map[string]net.Conn // by remote address
	// ends counts the calls that ended, on every connection; peak is the
	// most calls one connection had running at once.
	ends atomic.Int64
	peak atomic.Int64
}

var _ stats.Handler = (*resetGuard)(nil)

// connCalls counts one connection's calls.
type connCalls struct {
	remote                 string
	calls, resets, running atomic.Int64
	closing                atomic.Bool
}

type connCallsKey struct{}

func newResetGuard(log *slog.Logger) *resetGuard {
	return &resetGuard{log: log, conns: map[string]net.Conn{}}
}

func (g *resetGuard) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	if info.RemoteAddr == nil {
		return ctx
	}
	return context.WithValue(ctx, connCallsKey{}, &connCalls{remote: info.RemoteAddr.String()})
}

func (g *resetGuard) HandleConn(context.Context, stats.ConnStats) {}

func (g *resetGuard) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

// HandleRPC counts the calls of a connection, and closes it if its client
// cancels most of what it opens.
func (g *resetGuard) HandleRPC(ctx context.Context, s stats.RPCStats) {
	cc, _ := ctx.Value(connCallsKey{}).(*connCalls)
	switch s := s.(type) {
	case *stats.Begin:
		if cc != nil {
			g.began(cc)
		}
	case *stats.End:
		g.ends.Add(1)
		if cc != nil {
			g.ended(cc, s)
		}
	}
}

// began counts a call that started on cc and keeps the peak.
func (g *resetGuard) began(cc *connCalls) {
	r := cc.running.Add(1)
	for p := g.peak.Load(); r > p && !g.peak.CompareAndSwap(p, r); p = g.peak.Load() {
	}
}

// ended counts a call that ended on cc, and closes cc's connection once
// its client has cancelled at least resetFloodMin calls and more than half
// of all it made.
func (g *resetGuard) ended(cc *connCalls, end *stats.End) {
	cc.running.Add(-1)
	n := cc.calls.Add(1)
	if end.Error == nil || status.Code(end.Error) != codes.Canceled {
		return
	}
	r := cc.resets.Add(1)
	if r >= resetFloodMin && 2*r > n && cc.closing.CompareAndSwap(false, true) {
		g.log.Warn("closing a connection whose client cancels most calls it opens (rapid reset)",
			"remote", cc.remote, "calls", n, "cancelled", r)
		g.close(cc.remote)
	}
}

// tap refuses, before any handler runs, the streams that arrive on a
// connection being closed (the frames the server had read before it
// closed the connection). It is the server's grpc.InTapHandle.
func (g *resetGuard) tap(ctx context.Context, _ *tap.Info) (context.Context, error) {
	if cc, _ := ctx.Value(connCallsKey{}).(*connCalls); cc != nil && cc.closing.Load() {
		return nil, errResetFlood
	}
	return ctx, nil
}

// errResetFlood answers the streams refused by tap.
var errResetFlood = status.Error(codes.Unavailable, "connection closed: too many cancelled calls")

// close closes the connection from remote, if Listener accepted it.
func (g *resetGuard) close(remote string) {
	g.mu.Lock()
	c := g.conns[remote]
	g.mu.Unlock()
	if c != nil {
		c.Close()
		if g.closed != nil {
			g.closed()
		}
	}
}

// trackingListener registers the connections it accepts with the guard.
type trackingListener struct {
	net.Listener
	g *resetGuard
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, g: l.g, key: c.RemoteAddr().String()}
	l.g.mu.Lock()
	l.g.conns[tc.key] = tc
	l.g.mu.Unlock()
	return tc, nil
}

// trackedConn leaves the registry when closed.
type trackedConn struct {
	net.Conn
	g    *resetGuard
	key  string
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.g.mu.Lock()
		if c.g.conns[c.key] == net.Conn(c) {
			delete(c.g.conns, c.key)
		}
		c.g.mu.Unlock()
	})
	return c.Conn.Close()
}
