package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
)

// TestForwarderReconnectsToARestartedMember: a connection that failed
// while a member was down is ready soon after the member is back: within
// its short backoff, or at once when the member has become the leader
// since the connection was last used (gRPC's default backoff would take
// 0.8 to 1.2 s here, and up to 2 minutes after a longer outage).
func TestForwarderReconnectsToARestartedMember(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat time.Duration // backoff from a tenth of it, to it
		newLeader bool          // another member led in between
	}{
		{"short backoff", 200 * time.Millisecond, false},
		{"reset for a new leader", 10 * time.Second, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := unusedAddr(t)
			f := newForwarder(ForwardConfig{}, tc.heartbeat)
			t.Cleanup(f.close)
			c, err := f.conn(addr)
			if err != nil {
				t.Fatal(err)
			}
			c.Connect()
			if !waitState(c, connectivity.TransientFailure, 5*time.Second) {
				t.Fatalf("connection to a closed port is %v, want TRANSIENT_FAILURE", c.GetState())
			}
			serve(t, addr)
			start := time.Now()
			if tc.newLeader {
				if _, err := f.conn(unusedAddr(t)); err != nil {
					t.Fatal(err)
				}
				if _, err := f.conn(addr); err != nil {
					t.Fatal(err)
				}
			}
			if !waitState(c, connectivity.Ready, 5*time.Second) {
				t.Fatalf("connection %v 5 s after the member came back", c.GetState())
			}
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Errorf("connection ready %v after the member came back, want within 500 ms", d)
			}
		})
	}
}

// unusedAddr returns a loopback address nothing listens on.
func unusedAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// serve runs a gRPC server on addr until the test ends.
func serve(t *testing.T, addr string) {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	go g.Serve(lis)
	t.Cleanup(g.Stop)
}

// waitState waits until c is in state want, for at most d.
func waitState(c *grpc.ClientConn, want connectivity.State, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for s := c.GetState(); s != want; s = c.GetState() {
		if !c.WaitForStateChange(ctx, s) {
			return false
		}
	}
	return true
}

// A connection to a member unused for connIdle (one that left the cluster,
// say) is closed, and stops trying to reconnect; one in use stays, and a
// closed one is dialed again when it is wanted.
func TestForwarderClosesIdleConnections(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	f := newForwarder(ForwardConfig{Now: func() time.Time { return now }}, time.Second)
	t.Cleanup(f.close)
	gone, kept := unusedAddr(t), unusedAddr(t)
	cGone, err := f.conn(gone)
	if err != nil {
		t.Fatal(err)
	}
	cGone.Connect()
	for range 3 {
		now = now.Add(connIdle / 2)
		if _, err := f.conn(kept); err != nil {
			t.Fatal(err)
		}
	}
	if got := cGone.GetState(); got != connectivity.Shutdown {
		t.Fatalf("connection unused for %v is %v, want SHUTDOWN", 3*connIdle/2, got)
	}
	f.mu.Lock()
	_, stillGone := f.conns[gone]
	n := len(f.conns)
	f.mu.Unlock()
	if stillGone || n != 1 {
		t.Fatalf("forwarder holds %d connections (the idle one: %v), want the one in use only", n, stillGone)
	}
	c, err := f.conn(gone)
	if err != nil {
		t.Fatal(err)
	}
	if c == cGone || c.GetState() == connectivity.Shutdown {
		t.Fatal("a closed connection was handed out again")
	}
}
