package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// TestResetGuard: a connection is closed once its client has cancelled
// resetFloodMin calls and more than half of all it made; a client that
// cancels half its calls or fewer, or fewer than resetFloodMin, keeps it.
func TestResetGuard(t *testing.T) {
	canceled := &stats.End{Error: status.Error(codes.Canceled, "canceled")}
	ok := &stats.End{}
	failed := &stats.End{Error: status.Error(codes.NotFound, "x")}
	for _, c := range []struct {
		name      string
		calls     []*stats.End
		wantClose bool
	}{
		{"flood", repeat(canceled, resetFloodMin), true},
		{"one short", repeat(canceled, resetFloodMin-1), false},
		{"half cancelled", append(repeat(ok, resetFloodMin), repeat(canceled, resetFloodMin)...), false},
		{"mostly cancelled", append(repeat(failed, resetFloodMin), repeat(canceled, resetFloodMin+1)...), true},
		{"errors are not resets", repeat(failed, 3*resetFloodMin), false},
	} {
		g := newResetGuard(discardLogger)
		closes := 0
		g.closed = func() { closes++ }
		server, client := net.Pipe()
		l := &trackingListener{Listener: oneConnListener{server}, g: g}
		conn, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		ctx := g.TagConn(context.Background(), &stats.ConnTagInfo{RemoteAddr: conn.RemoteAddr()})
		for range c.calls {
			g.HandleRPC(ctx, &stats.Begin{})
		}
		for _, e := range c.calls {
			g.HandleRPC(ctx, e)
		}
		if p := g.peak.Load(); p != int64(len(c.calls)) {
			t.Errorf("%s: peak %d calls at once, want %d", c.name, p, len(c.calls))
		}
		client.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		_, err = client.Read(make([]byte, 1))
		closed := err != nil && !isTimeout(err)
		if closed != c.wantClose || (closes == 1) != c.wantClose {
			t.Errorf("%s: connection closed %v (%d closes counted), want %v", c.name, closed, closes, c.wantClose)
		}
		if _, err := g.tap(ctx, nil); (err != nil) != c.wantClose {
			t.Errorf("%s: tap %v; want new streams refused only on a closed connection", c.name, err)
		}
		if g.ends.Load() != int64(len(c.calls)) {
			t.Errorf("%s: %d calls counted, want %d", c.name, g.ends.Load(), len(c.calls))
		}
		conn.Close()
		client.Close()
		if len(g.conns) != 0 {
			t.Errorf("%s: %d connections left in the registry after Close", c.name, len(g.conns))
		}
	}
}

func repeat(e *stats.End, n int) []*stats.End {
	out := make([]*stats.End, n)
	for i := range out {
		out[i] = e
	}
	return out
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// oneConnListener accepts one connection.
type oneConnListener struct{ c net.Conn }

func (l oneConnListener) Accept() (net.Conn, error) { return l.c, nil }
func (l oneConnListener) Close() error              { return nil }
func (l oneConnListener) Addr() net.Addr            { return l.c.LocalAddr() }

// An address whose connections flood twice within floodRepeat is refused
// for a penalty that doubles with each further flood up to floodPenaltyMax
// and starts again once forgotten; one flood alone, or floods far apart,
// are not penalized; other addresses are not refused.
func TestFloodPenalty(t *testing.T) {
	g := newResetGuard(slog.New(slog.DiscardHandler))
	now := time.Unix(1_700_000_000, 0)
	g.now = func() time.Time { return now }
	if d := g.penalize("10.0.0.9:4000"); d != 0 || g.penalized("10.0.0.9:4000") > 0 {
		t.Fatalf("one flood: penalty %v", d)
	}
	now = now.Add(floodRepeat + time.Second)
	if d := g.penalize("10.0.0.9:4000"); d != 0 {
		t.Fatalf("a second flood after %v: penalty %v", floodRepeat+time.Second, d)
	}
	now = now.Add(time.Second)
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if d := g.penalize("10.0.0.9:4000"); d != w {
			t.Fatalf("flood %d: penalty %v, want %v", i+1, d, w)
		}
		if g.penalized("10.0.0.9:5555") != w || g.penalized("10.0.0.8:4000") != 0 {
			t.Fatalf("flood %d: the address (any port) must be refused for the whole penalty, and only it", i+1)
		}
		now = now.Add(w + time.Millisecond)
		if g.penalized("10.0.0.9:4000") > 0 {
			t.Fatalf("flood %d: still refused after its penalty", i+1)
		}
	}
	now = now.Add(penaltyMemory + time.Second)
	g.penalize("10.0.0.9:4000")
	if d := g.penalize("10.0.0.9:4000"); d != floodPenalty {
		t.Fatalf("after the address was forgotten: penalty %v, want %v", d, floodPenalty)
	}
	// Bounded: expired records make room; past the bound no more are kept.
	for i := range maxPenalties + 10 {
		g.penalize(fmt.Sprintf("10.1.%d.%d:1", i/256, i%256))
	}
	if len(g.penalties) > maxPenalties {
		t.Fatalf("%d addresses remembered, at most %d", len(g.penalties), maxPenalties)
	}
}

// A penalized address's connections are accepted and held open, unread,
// until the penalty ends (at most heldMax), so that a client flooding in a
// loop does not reconnect thousands of times a second; at most
// maxHeldPerAddr of one address are held, the others are closed at once,
// and closing the listener closes the held ones. Other addresses' are
// served meanwhile.
func TestListenerHoldsPenalizedAddresses(t *testing.T) {
	g := newResetGuard(slog.New(slog.DiscardHandler))
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis := &trackingListener{Listener: inner, g: g}
	defer lis.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	g.penalize("127.0.0.2:1")
	penalty := g.penalize("127.0.0.2:2")
	start := time.Now()
	dial := func(from net.IP) net.Conn {
		c, err := (&net.Dialer{LocalAddr: &net.TCPAddr{IP: from}}).Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedWithin reports whether the server closes c within d.
	closedWithin := func(c net.Conn, d time.Duration) bool {
		c.SetReadDeadline(time.Now().Add(d))
		_, err := c.Read(make([]byte, 1))
		if err != nil && !isTimeout(err) && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read: %v", err)
		}
		return err != nil && !isTimeout(err)
	}
	var held []net.Conn
	for range maxHeldPerAddr {
		held = append(held, dial(net.IPv4(127, 0, 0, 2)))
	}
	// The client's writes are not read: they soon block.
	held[0].SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	var wrote int
	for buf := make([]byte, 64<<10); wrote < 64<<20; wrote += len(buf) {
		if _, err := held[0].Write(buf); err != nil {
			if !isTimeout(err) {
				t.Fatalf("write to a held connection: %v", err)
			}
			break
		}
	}
	if wrote >= 64<<20 {
		t.Fatalf("wrote %d bytes to a held connection without blocking", wrote)
	}
	extra := dial(net.IPv4(127, 0, 0, 2))
	if !closedWithin(extra, 2*time.Second) {
		t.Fatalf("connection %d of a penalized address was held; at most %d are", maxHeldPerAddr+1, maxHeldPerAddr)
	}
	dial(net.IPv4(127, 0, 0, 1))
	select {
	case c := <-accepted:
		if got := hostOf(c.RemoteAddr().String()); got != "127.0.0.1" {
			t.Fatalf("accepted a connection from %s", got)
		}
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("another address's connection was not accepted")
	}
	if n := g.heldConns(); n != maxHeldPerAddr {
		t.Fatalf("%d connections held, want %d", n, maxHeldPerAddr)
	}
	if g.refused.Load() != maxHeldPerAddr+1 {
		t.Fatalf("refused %d connections, want %d", g.refused.Load(), maxHeldPerAddr+1)
	}
	// Held until the penalty ends, not much longer.
	for i, c := range held {
		if !closedWithin(c, penalty+2*time.Second) {
			t.Fatalf("held connection %d still open %v after a penalty of %v", i, time.Since(start), penalty)
		}
	}
	if took := time.Since(start); took < penalty-100*time.Millisecond {
		t.Fatalf("held connections closed after %v, before the penalty of %v ended", took, penalty)
	}
	waitHeld := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); g.heldConns() != want; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d connections held, want %d", g.heldConns(), want)
			}
		}
	}
	waitHeld(0)
	// The penalty is over: the address's next connection is served.
	dial(net.IPv4(127, 0, 0, 2))
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("a connection after the penalty was not accepted")
	}
	// Closing the listener closes what it holds.
	g.penalize("127.0.0.3:1")
	g.penalize("127.0.0.3:2")
	last := dial(net.IPv4(127, 0, 0, 3))
	waitHeld(1)
	lis.Close()
	if !closedWithin(last, time.Second) {
		t.Fatal("closing the listener left a held connection open")
	}
	if n := g.heldConns(); n != 0 {
		t.Fatalf("%d connections held after the listener closed", n)
	}
}

// A flooding connection's address is refused afterwards, unless the
// connection had carried a successful call of the cluster's own service:
// another member's, whose forwarded calls are cancelled when its callers
// give up; closing it is enough.
func TestFloodPenaltySparesMembers(t *testing.T) {
	canceled := &stats.End{Error: status.Error(codes.Canceled, "canceled")}
	for _, c := range []struct {
		name   string
		member bool
	}{{"a client", false}, {"a member", true}} {
		g := newResetGuard(discardLogger)
		remote := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 5), Port: 1234}
		for range 2 { // two connections flood, one after the other
			ctx := g.TagConn(context.Background(), &stats.ConnTagInfo{RemoteAddr: remote})
			if c.member {
				rctx := g.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: "/kmsd.cluster.v1.ForwardService/Apply"})
				g.HandleRPC(rctx, &stats.Begin{})
				g.HandleRPC(rctx, &stats.End{})
			}
			for range resetFloodMin {
				rctx := g.TagRPC(ctx, &stats.RPCTagInfo{FullMethodName: "/kms.v1.KeyManagementService/GenerateRandom"})
				g.HandleRPC(rctx, &stats.Begin{})
				g.HandleRPC(rctx, canceled)
			}
		}
		if got := g.penalized("10.0.0.5:999") > 0; got == c.member {
			t.Errorf("%s flooded: address refused %v, want %v", c.name, got, !c.member)
		}
	}
}
