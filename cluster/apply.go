package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// Apply replicates cmd and returns the state machine's response once the
// entry is committed and applied on this node (the leader). It waits at
// most until ctx's deadline or Config.ApplyTimeout, whichever is sooner.
//
// Errors: ErrNotLeader (this node is not the leader, or lost leadership
// with the entry in flight), ErrTimeout (the deadline passed or ctx was
// cancelled; the entry may still commit), ErrShutdown, and
// ErrInvalidCommand for a command of a type the state machine does not
// know (unless it is ignorable), which is never proposed.
//
// On a follower with forwarding configured (Config.Forward), the command is
// sent to the leader instead, and Apply returns once this node has applied
// it too; ErrNotLeader then means there is no leader to forward to.
func (n *Node) Apply(ctx context.Context, cmd *clusterv1.Command) (any, error) {
	if n.fwd == nil || n.IsLeader() {
		resp, _, err := n.applyLocal(ctx, cmd)
		return resp, err
	}
	if err := n.checkCommand(cmd); err != nil {
		return nil, err
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode command: %w", err)
	}
	var resp any
	err = n.retryStaleLeader(ctx, func() error {
		leader, addr, err := n.findLeader(ctx)
		if errors.Is(err, errSelf) {
			resp, _, err = n.applyLocal(ctx, cmd)
			return err
		}
		if err != nil {
			return err
		}
		resp, err = n.forward(ctx, b, leader, addr)
		return err
	})
	return resp, err
}

var (
	// errSelf: findLeader found that this node leads.
	errSelf = errors.New("cluster: this node is the leader")
	// errStaleLeader: the node a request was sent to answered that it does
	// not lead (any more), so nothing was done and it can be sent again.
	errStaleLeader = errors.New("cluster: the node asked is not the leader")
)

// retryStaleLeader runs f again while it fails with errStaleLeader, until
// this node learns of another leader, for at most ApplyTimeout:
// the leader this node knew has stepped down or was removed, and the
// cluster is electing or has elected another.
func (n *Node) retryStaleLeader(ctx context.Context, f func() error) error {
	deadline := time.Now().Add(n.leaderWait)
	for {
		err := f()
		if !errors.Is(err, errStaleLeader) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-n.shutdownCh:
			return ErrShutdown
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// findLeader returns the leader's id and API address, or errSelf if this
// node leads. A follower may not know the leader yet: just after it
// started, or during an election; it waits for one (ApplyTimeout
// at most) before answering ErrNotLeader.
func (n *Node) findLeader(ctx context.Context) (id, apiAddr string, err error) {
	var give <-chan time.Time
	var tick *time.Ticker
	for {
		if n.IsLeader() {
			return "", "", errSelf
		}
		id, addr, err := n.leaderAPIAddr()
		if err == nil {
			return id, addr, nil
		}
		if tick == nil {
			give = time.After(n.leaderWait)
			tick = time.NewTicker(5 * time.Millisecond)
			defer tick.Stop()
		}
		select {
		case <-give:
			return "", "", err
		case <-ctx.Done():
			return "", "", err
		case <-n.shutdownCh:
			return "", "", ErrShutdown
		case <-tick.C:
		}
	}
}

func (n *Node) checkCommand(cmd *clusterv1.Command) error {
	if n.isShutdown() {
		return ErrShutdown
	}
	if cmd == nil || !(cmd.Ignorable || n.fsm.handles(cmd.Type)) {
		return fmt.Errorf("%w: unknown type %v", ErrInvalidCommand, cmd.GetType())
	}
	return nil
}

// applyLocal proposes cmd on this node and returns the state machine's
// response and the entry's index.
func (n *Node) applyLocal(ctx context.Context, cmd *clusterv1.Command) (any, uint64, error) {
	if err := n.checkCommand(cmd); err != nil {
		return nil, 0, err
	}
	// Audit records are taken even so: they are the records of calls let
	// in before the disk ran low, perhaps of changes already made, and
	// the reserve is there for them (the server refuses new calls).
	if n.storageCheck != nil && cmd.Type != clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS {
		if err := n.storageCheck(); err != nil {
			return nil, 0, err
		}
	}
	b, err := proto.Marshal(cmd)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster: encode command: %w", err)
	}
	timeout, err := n.timeout(ctx)
	if err != nil {
		return nil, 0, err
	}
	f := n.raft.Apply(b, timeout)
	if err := n.wait(ctx, f, timeout); err != nil {
		return nil, 0, err
	}
	return f.Response(), f.Index(), nil
}

// ApplyMutation replicates m as a key store command and returns its
// outcome: nil, a key store domain error (errors.Is(err,
// keystore.ErrNotFound) and the like; nothing changed), or one of Apply's
// errors (the outcome may be unknown).
func (n *Node) ApplyMutation(ctx context.Context, m *keystore.Mutation) error {
	payload, err := m.Encode()
	if err == nil {
		// What the state machine cannot decode must never reach the log.
		_, err = keystore.DecodeMutation(payload)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidCommand, err)
	}
	cmd := &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_KEYSTORE, Payload: payload}
	resp, err := n.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	if err, ok := resp.(error); ok {
		return err
	}
	return nil
}

// Snapshot takes a snapshot now and compacts the log.
func (n *Node) Snapshot() error {
	if n.isShutdown() {
		return ErrShutdown
	}
	timeout := n.cfg.applyTimeout()
	return n.wait(context.Background(), n.raft.Snapshot(), timeout)
}

// timeout returns how long a wait may last: the smaller of the time left
// before ctx's deadline and ApplyTimeout.
func (n *Node) timeout(ctx context.Context) (time.Duration, error) {
	if ctx.Err() != nil {
		return 0, timeoutError(ctx)
	}
	timeout := n.cfg.applyTimeout()
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	if timeout <= 0 {
		return 0, fmt.Errorf("%w: %w", ErrTimeout, context.DeadlineExceeded)
	}
	return timeout, nil
}

// wait waits for f, but never past timeout, ctx or shutdown: a raft future
// can hang across a leadership change (hashicorp/raft#498), and raft never
// answers the futures of entries that were being applied when it shut
// down. f is waited on in a goroutine, which stays blocked as long as raft
// does not answer; Stats reports how many there are as "future_waiters".
func (n *Node) wait(ctx context.Context, f raft.Future, timeout time.Duration) error {
	return n.waitOr(ctx, f, nil, timeout)
}

// waitOr is wait that also returns nil once early is closed (a nil early
// is never closed).
func (n *Node) waitOr(ctx context.Context, f raft.Future, early <-chan struct{}, timeout time.Duration) error {
	done := make(chan error, 1)
	n.waiters.Add(1)
	go func() {
		defer n.waiters.Add(-1)
		done <- f.Error()
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var late error
	select {
	case err := <-done:
		return raftError(err)
	case <-early:
		return nil
	case <-timer.C:
		late = ErrTimeout
	case <-ctx.Done():
		late = timeoutError(ctx)
	case <-n.shutdownCh:
		late = ErrShutdown
	}
	select { // prefer an answer that arrived at the same time
	case err := <-done:
		return raftError(err)
	default:
		return late
	}
}

// raftError maps raft's errors to this package's.
func raftError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, raft.ErrNotLeader):
		return ErrNotLeader
	case errors.Is(err, raft.ErrLeadershipLost):
		// The entry may still commit under the next leader.
		return fmt.Errorf("%w: leadership lost, outcome unknown", ErrTimeout)
	case errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: leadership transfer in progress", ErrNotLeader)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrShutdown
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return ErrTimeout
	case errors.Is(err, raft.ErrAbortedByRestore):
		// Superseded by a restore if it succeeds; still committed and
		// applied if the restore fails after raft gave up waiting.
		return fmt.Errorf("%w: aborted by a restore, outcome unknown", ErrTimeout)
	default:
		return fmt.Errorf("cluster: raft: %w", err)
	}
}

// timeoutError is ErrTimeout for a done ctx; errors.Is also matches
// ctx.Err().
func timeoutError(ctx context.Context) error {
	return fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
}

func (n *Node) isShutdown() bool {
	select {
	case <-n.shutdownCh:
		return true
	default:
		return false
	}
}
