package server

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

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
	// penalties holds, by IP address, the clients whose connections were
	// closed for flooding: their next connections are refused.
	penalties map[string]penalty
	now       func() time.Time
	// held counts, by IP address, the refused connections held open
	// (hold); heldAll counts them all.
	held    map[string]int
	heldAll int
	// ends counts the calls that ended, on every connection; peak is the
	// most calls one connection had running at once; refused counts the
	// connections refused under a penalty.
	ends    atomic.Int64
	peak    atomic.Int64
	refused atomic.Int64
}

// A client whose connection the guard closed for flooding would connect
// again at once and go on. When a second connection from the same IP
// address floods within floodRepeat of the first, the guard refuses that
// address's connections for floodPenalty, doubling with every further
// flood up to floodPenaltyMax, before any TLS or HTTP/2 work. The cost
// falls on the flooding client; clients behind the same address (a NAT)
// wait out the penalty with it. A client whose calls were all cancelled
// once (its deadlines passed while a member was paused, say) is not
// refused.
//
// A refused connection is not closed at once: a client that floods in a
// loop would connect again as fast as the server closes, and accepting and
// closing thousands of connections a second takes CPU from the other
// clients. The server holds it open instead, reading nothing, with a small
// receive buffer so that the client's writes soon block, until the penalty
// ends or heldMax has passed, at most maxHeldPerAddr connections of one
// address and maxHeld in all; it closes the others at once. A held
// connection costs a file descriptor and heldReadBuffer of kernel memory.
const (
	floodRepeat     = 10 * time.Second
	floodPenalty    = 2 * time.Second
	floodPenaltyMax = time.Minute
	// penaltyMemory is how long an address's record is kept after its
	// penalty ends, for the next one to be longer.
	penaltyMemory = 10 * time.Minute
	// maxPenalties bounds the addresses remembered.
	maxPenalties = 4096

	heldMax        = 2 * time.Second
	maxHeldPerAddr = 8
	maxHeld        = 256
	heldReadBuffer = 4 << 10
)

type penalty struct {
	lastFlood time.Time // when a connection from it was last closed
	until     time.Time // refused until
	next      time.Duration
}

var _ stats.Handler = (*resetGuard)(nil)

// connCalls counts one connection's calls.
type connCalls struct {
	remote                 string
	calls, resets, running atomic.Int64
	closing                atomic.Bool
	// member is set once a call of the cluster's own service
	// (kmsd.cluster.v1, authenticated by the members' shared secret)
	// succeeded on the connection: another member's, whose calls are
	// cancelled when its own callers give up. Its connection is closed
	// if it floods, but its address is not refused.
	member atomic.Bool
}

type rpcMethodKey struct{}

// memberServicePrefix names the methods only members call successfully.
const memberServicePrefix = "/kmsd.cluster.v1."

type connCallsKey struct{}

func newResetGuard(log *slog.Logger) *resetGuard {
	return &resetGuard{log: log, conns: map[string]net.Conn{}, penalties: map[string]penalty{}, held: map[string]int{}, now: time.Now}
}

func (g *resetGuard) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	if info.RemoteAddr == nil {
		return ctx
	}
	return context.WithValue(ctx, connCallsKey{}, &connCalls{remote: info.RemoteAddr.String()})
}

func (g *resetGuard) HandleConn(context.Context, stats.ConnStats) {}

func (g *resetGuard) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	if strings.HasPrefix(info.FullMethodName, memberServicePrefix) {
		return context.WithValue(ctx, rpcMethodKey{}, info.FullMethodName)
	}
	return ctx
}

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
			if _, ok := ctx.Value(rpcMethodKey{}).(string); ok && s.Error == nil {
				cc.member.Store(true)
			}
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
		var d time.Duration
		if !cc.member.Load() {
			d = g.penalize(cc.remote)
		}
		g.log.Warn("closing a connection whose client cancels most calls it opens (rapid reset)",
			"remote", cc.remote, "calls", n, "cancelled", r, "address_refused_for", d)
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

// penalize records a flood from remote's IP address and, if it repeats
// one within floodRepeat, starts or lengthens its penalty and returns its
// length (0: none).
func (g *resetGuard) penalize(remote string) time.Duration {
	ip := hostOf(remote)
	now := g.now()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.penalties) >= maxPenalties {
		for k, p := range g.penalties {
			if now.After(p.until.Add(penaltyMemory)) && now.After(p.lastFlood.Add(penaltyMemory)) {
				delete(g.penalties, k)
			}
		}
		if len(g.penalties) >= maxPenalties {
			return 0 // remembering no more; the flood is still cut off
		}
	}
	p, seen := g.penalties[ip]
	// A repeat: within floodRepeat of the last flood, or of the end of
	// the penalty that stopped it.
	repeat := seen && (now.Sub(p.lastFlood) <= floodRepeat || now.Sub(p.until) <= floodRepeat)
	p.lastFlood = now
	if !repeat {
		g.penalties[ip] = p
		return 0
	}
	d := p.next
	if d == 0 || now.After(p.until.Add(penaltyMemory)) {
		d = floodPenalty
	}
	p.until, p.next = now.Add(d), min(2*d, floodPenaltyMax)
	g.penalties[ip] = p
	return d
}

// penalized reports for how much longer connections from remote are
// refused (0: they are not).
func (g *resetGuard) penalized(remote string) time.Duration {
	ip := hostOf(remote)
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.penalties[ip]; ok {
		return max(p.until.Sub(g.now()), 0)
	}
	return 0
}

// heldConn is a refused connection held open (trackingListener).
type heldConn struct {
	net.Conn
	ip   string
	once sync.Once
}

// hold counts c, a refused connection, as held and shrinks its receive
// buffer; it closes c and returns nil if too many connections are held
// already.
func (g *resetGuard) hold(c net.Conn) *heldConn {
	ip := hostOf(c.RemoteAddr().String())
	g.mu.Lock()
	if g.heldAll >= maxHeld || g.held[ip] >= maxHeldPerAddr {
		g.mu.Unlock()
		c.Close()
		return nil
	}
	g.held[ip]++
	g.heldAll++
	g.mu.Unlock()
	if b, ok := c.(interface{ SetReadBuffer(int) error }); ok {
		b.SetReadBuffer(heldReadBuffer)
	}
	return &heldConn{Conn: c, ip: ip}
}

// release closes a held connection and stops counting it.
func (g *resetGuard) release(h *heldConn) {
	h.once.Do(func() {
		h.Close()
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.held[h.ip]--; g.held[h.ip] <= 0 {
			delete(g.held, h.ip)
		}
		g.heldAll--
	})
}

// heldConns returns the number of refused connections held open.
func (g *resetGuard) heldConns() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.heldAll
}

func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// trackingListener registers the connections it accepts with the guard,
// and holds (resetGuard.hold) those from an address under a penalty
// instead of returning them.
type trackingListener struct {
	net.Listener
	g *resetGuard

	mu     sync.Mutex
	held   map[*heldConn]*time.Timer // each with the timer that releases it
	closed bool
}

// Close closes the listener and the connections it holds.
func (l *trackingListener) Close() error {
	err := l.Listener.Close()
	l.mu.Lock()
	l.closed = true
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for h, t := range held {
		t.Stop()
		l.g.release(h)
	}
	return err
}

func (l *trackingListener) Accept() (net.Conn, error) {
	var c net.Conn
	for {
		var err error
		if c, err = l.Listener.Accept(); err != nil {
			return nil, err
		}
		d := l.g.penalized(c.RemoteAddr().String())
		if d <= 0 {
			break
		}
		l.holdConn(c, d)
		if l.g.refused.Add(1) == 1 || l.g.refused.Load()%1000 == 0 {
			l.g.log.Warn("refusing connections from an address that flooded", "remote", c.RemoteAddr().String(),
				"refused_so_far", l.g.refused.Load())
		}
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

// holdConn holds c, refused for another d, until d or heldMax has passed
// or the listener closes.
func (l *trackingListener) holdConn(c net.Conn, d time.Duration) {
	h := l.g.hold(c)
	if h == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		l.g.release(h)
		return
	}
	if l.held == nil {
		l.held = map[*heldConn]*time.Timer{}
	}
	l.held[h] = time.AfterFunc(min(d, heldMax), func() {
		l.mu.Lock()
		delete(l.held, h)
		l.mu.Unlock()
		l.g.release(h)
	})
}
