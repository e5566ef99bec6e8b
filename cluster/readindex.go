package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// Reads. Every member serves reads (the key lookups of crypto calls,
// DescribeKey, ListKeys, ...) from its own applied state, and ReadBarrier
// makes those reads see every mutation acknowledged before the read began,
// by any member: a client that disabled a key through one member and then
// calls another finds it disabled.
//
// It rests on one property: a mutation is acknowledged, by the leader or by
// the follower that forwarded it, only after the leader has applied it. So
// the leader's read index — the index of the last entry it applied that
// changed more than the audit log — covers every acknowledged mutation, and
// a member that has applied up to it holds them all. The leader answers
// only once it has applied everything its predecessors committed (a raft
// barrier after each election), and only while raft still counts it
// leader; raft steps a leader down when it has not heard from a quorum for
// LeaderLeaseTimeout, which is shorter than the election timeout, so a
// deposed leader stops answering before another can be elected (given
// clocks that run at about the same rate).
//
// On the leader the barrier costs nothing more. A follower asks the leader
// (ForwardService.ReadIndex, authenticated like forwarding), and every read
// that starts while a request is out shares the next one, so under load a
// follower sends about one request per round trip, not one per read. Then
// it waits until it has applied that index, usually already the case.

const readIndexMagic = "kmsd read index v1"

func readIndexMessage(from, to string, ts int64, nonce []byte) []byte {
	b := []byte(readIndexMagic)
	for _, s := range []string{from, to} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	return append(b, nonce...)
}

func readIndexResponseMessage(nonce []byte, index uint64, kind, msg string) []byte {
	b := []byte("kmsd read index response v1")
	b = append(b, nonce...)
	b = binary.BigEndian.AppendUint64(b, index)
	for _, s := range []string{kind, msg} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// ReadBarrier returns once this node has applied every mutation that any
// member acknowledged before the call, or fails with ErrNotLeader (no
// leader), ErrTimeout (ctx or ApplyTimeout) or ErrShutdown. Without
// forwarding (Config.Forward) a follower cannot ask the leader and returns
// at once.
func (n *Node) ReadBarrier(ctx context.Context) error {
	if n.isShutdown() {
		return ErrShutdown
	}
	if err := n.restoreState(); err != nil {
		return err
	}
	if n.IsLeader() {
		_, err := n.leaderReadIndex(ctx)
		if !errors.Is(err, ErrNotLeader) {
			return err
		}
	}
	if n.fwd == nil {
		return nil
	}
	// No leader yet (the cluster is starting or electing): ask again while
	// the caller waits (without a deadline of its own, for at most twice
	// ApplyTimeout); each attempt joins a request sent after it.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*n.cfg.applyTimeout())
		defer cancel()
	}
	for {
		index, err := n.reads.get(ctx, n)
		if err == nil {
			return n.waitApplied(ctx, index)
		}
		if !errors.Is(err, ErrNotLeader) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-n.shutdownCh:
			return ErrShutdown
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// leaderReadIndex returns this leader's read index, once it has applied
// what its predecessors committed.
func (n *Node) leaderReadIndex(ctx context.Context) (uint64, error) {
	n.readyMu.Lock()
	ready := n.ready
	n.readyMu.Unlock()
	if ready == nil || n.raft.State() != raft.Leader {
		return 0, fmt.Errorf("%w: not the leader", ErrNotLeader)
	}
	if err := n.restoreState(); err != nil {
		return 0, err
	}
	select {
	case <-ready:
		return n.fsm.stateIndex.Load(), nil
	default:
	}
	timeout, err := n.timeout(ctx)
	if err != nil {
		return 0, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-ready:
		return n.fsm.stateIndex.Load(), nil
	case <-ctx.Done():
		return 0, timeoutError(ctx)
	case <-timer.C:
		return 0, fmt.Errorf("%w: the new leader has not applied its predecessors' entries yet", ErrTimeout)
	case <-n.shutdownCh:
		return 0, ErrShutdown
	}
}

// followLeadership keeps n.ready: while this node leads, a channel closed
// once a barrier has shown that the state machine applied every entry
// before this term's; nil while it does not lead. It runs until Shutdown.
func (n *Node) followLeadership() {
	for isLeader := range n.LeaderCh() {
		n.readyMu.Lock()
		if !isLeader {
			n.ready = nil
			n.readyMu.Unlock()
			continue
		}
		ready := make(chan struct{})
		n.ready = ready
		n.readyMu.Unlock()
		go n.barrier(ready)
	}
}

// barrier closes ready once raft's barrier returns, retrying while this
// node leads.
func (n *Node) barrier(ready chan struct{}) {
	for n.IsLeader() {
		timeout := n.cfg.applyTimeout()
		err := n.wait(context.Background(), n.raft.Barrier(timeout), timeout)
		if err == nil {
			close(ready)
			return
		}
		if errors.Is(err, ErrShutdown) || errors.Is(err, ErrNotLeader) {
			return
		}
		select {
		case <-n.shutdownCh:
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitApplied waits until this node's store has applied index.
func (n *Node) waitApplied(ctx context.Context, index uint64) error {
	if n.store.AppliedIndex() >= index {
		return nil
	}
	timeout, err := n.timeout(ctx)
	if err != nil {
		return err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		sig := n.fsm.appliedSignal()
		if n.store.AppliedIndex() >= index {
			return nil
		}
		select {
		case <-sig:
		case <-ctx.Done():
			return timeoutError(ctx)
		case <-timer.C:
			return fmt.Errorf("%w: index %d not applied here in time", ErrTimeout, index)
		case <-n.shutdownCh:
			return ErrShutdown
		}
	}
}

// readIndexer shares the leader's answers among concurrent reads. A read
// joins the next request, never one already sent: an answer to a request
// sent before the read began might not cover a mutation acknowledged in
// between.
type readIndexer struct {
	mu      sync.Mutex
	waiting []chan readIndexResult
	running bool
}

type readIndexResult struct {
	index uint64
	err   error
}

func (r *readIndexer) get(ctx context.Context, n *Node) (uint64, error) {
	ch := make(chan readIndexResult, 1)
	r.mu.Lock()
	r.waiting = append(r.waiting, ch)
	if !r.running {
		r.running = true
		go r.run(n)
	}
	r.mu.Unlock()
	select {
	case res := <-ch:
		return res.index, res.err
	case <-ctx.Done():
		return 0, timeoutError(ctx)
	}
}

func (r *readIndexer) run(n *Node) {
	for {
		r.mu.Lock()
		batch := r.waiting
		r.waiting = nil
		if len(batch) == 0 {
			r.running = false
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.applyTimeout())
		var index uint64
		err := n.retryStaleLeader(ctx, func() (err error) {
			index, err = n.fetchReadIndex(ctx)
			return err
		})
		cancel()
		for _, ch := range batch {
			ch <- readIndexResult{index, err}
		}
	}
}

// fetchReadIndex asks the leader for its read index.
func (n *Node) fetchReadIndex(ctx context.Context) (uint64, error) {
	leader, addr, err := n.findLeader(ctx)
	if errors.Is(err, errSelf) {
		return n.leaderReadIndex(ctx)
	}
	if err != nil {
		return 0, err
	}
	conn, err := n.fwd.conn(addr)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return 0, err
	}
	ts := n.fwd.cfg.Now().UnixMilli()
	req := &clusterv1.ReadIndexRequest{FromNode: n.cfg.NodeID, ToNode: leader, TimestampMs: ts, Nonce: nonce,
		Mac: n.fwd.cfg.Auth.MAC(readIndexMessage(n.cfg.NodeID, leader, ts, nonce))}
	resp, err := clusterv1.NewForwardServiceClient(conn).ReadIndex(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("%w: read index from the leader at %s: %v", ErrNotLeader, addr, status.Convert(err).Message())
	}
	if !n.fwd.cfg.Auth.Verify(readIndexResponseMessage(nonce, resp.GetIndex(), resp.GetErrorKind(), resp.GetErrorMessage()), resp.GetMac()) {
		return 0, fmt.Errorf("%w: the read index from %s is not authenticated", ErrNotLeader, addr)
	}
	if k := resp.GetErrorKind(); k != "" {
		err := kindError(k, resp.GetErrorMessage())
		if errors.Is(err, ErrNotLeader) {
			return 0, fmt.Errorf("%w: %w", errStaleLeader, err)
		}
		return 0, err
	}
	return resp.GetIndex(), nil
}

func (s *forwardServer) ReadIndex(ctx context.Context, req *clusterv1.ReadIndexRequest) (*clusterv1.ReadIndexResponse, error) {
	n := s.n
	if n.fwd == nil {
		return nil, status.Error(codes.Unimplemented, "forwarding is not configured on this node")
	}
	if err := n.checkPeerCall(ctx); err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	// Not checked for freshness: a replayed request only asks for an
	// index, and the answer is bound to the request's nonce.
	if !n.fwd.cfg.Auth.Verify(readIndexMessage(req.GetFromNode(), req.GetToNode(), req.GetTimestampMs(), req.GetNonce()), req.GetMac()) ||
		req.GetToNode() != n.cfg.NodeID {
		return nil, status.Error(codes.PermissionDenied, "read index request not authenticated")
	}
	resp := &clusterv1.ReadIndexResponse{}
	if index, err := n.leaderReadIndex(ctx); err != nil {
		resp.ErrorKind, resp.ErrorMessage = errorKind(err), err.Error()
	} else {
		resp.Index = index
	}
	resp.Mac = n.fwd.cfg.Auth.MAC(readIndexResponseMessage(req.GetNonce(), resp.GetIndex(), resp.GetErrorKind(), resp.GetErrorMessage()))
	return resp, nil
}
