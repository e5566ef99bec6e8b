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
