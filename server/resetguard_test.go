package server

import (
	"context"
	"net"
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
