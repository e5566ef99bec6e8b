package cluster

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// hungFuture is a raft future that answers only when released, like the
// futures of hashicorp/raft#498.
type hungFuture struct{ release chan error }

func (f hungFuture) Error() error { return <-f.release }

func TestWaitNeverHangs(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		ctx     func() (context.Context, context.CancelFunc)
		stop    bool // shut the node down while waiting
		want    error
	}{
		{"timeout", 30 * time.Millisecond, noDeadline, false, ErrTimeout},
		{"context deadline", time.Hour, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 30*time.Millisecond)
		}, false, context.DeadlineExceeded},
		{"shutdown", time.Hour, noDeadline, true, ErrShutdown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{shutdownCh: make(chan struct{})}
			f := hungFuture{release: make(chan error)}
			defer close(f.release) // lets the waiting goroutine end
			ctx, cancel := tt.ctx()
			defer cancel()
			if tt.stop {
				time.AfterFunc(30*time.Millisecond, func() { close(n.shutdownCh) })
			}
			start := time.Now()
			err := n.wait(ctx, f, tt.timeout)
			if !errors.Is(err, tt.want) {
				t.Errorf("wait = %v, want %v", err, tt.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("wait returned after %v", d)
			}
		})
	}
}

func noDeadline() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func TestRaftErrorMapping(t *testing.T) {
	tests := []struct {
		in, want error
	}{
		{nil, nil},
		{raft.ErrNotLeader, ErrNotLeader},
		{raft.ErrLeadershipLost, ErrTimeout}, // the entry may still commit: outcome unknown
		{raft.ErrLeadershipTransferInProgress, ErrNotLeader},
		{raft.ErrRaftShutdown, ErrShutdown},
		{raft.ErrEnqueueTimeout, ErrTimeout},
		{raft.ErrNothingNewToSnapshot, raft.ErrNothingNewToSnapshot},
	}
	for i, tt := range tests {
		if got := raftError(tt.in); !errors.Is(got, tt.want) || (tt.want == nil) != (got == nil) {
			t.Errorf("Test %d: raftError(%v) = %v, want %v", i, tt.in, got, tt.want)
		}
	}
}
