package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/keystore"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// Forwarding. A follower does not refuse a command: it sends it to the
// leader's ForwardService (on the leader's API port, Peer.APIAddr), which
// proposes it and answers with the outcome; the follower then waits until
// it has applied the entry itself, so that what it reads next includes the
// change (read-your-writes for the caller of the follower).
//
// A forwarded command is authenticated with an HMAC under a key every
// member holds (ForwardConfig.Auth; kmsd derives it from the root key) over
//
//	"kmsd forward v1" || len(from) || from || timestamp (ms, 8 bytes) ||
//	nonce (16 bytes) || command
//
// and is accepted only within MaxSkew of the leader's clock and only once
// (nonces are remembered for twice MaxSkew). Anyone who can reach the API
// port but holds no key cannot append to the log.

// Authenticator computes and checks forwarding MACs.
type Authenticator interface {
	MAC(msg []byte) []byte
	// Verify reports whether mac is msg's MAC, in constant time.
	Verify(msg, mac []byte) bool
}

// ForwardConfig enables forwarding from followers to the leader.
type ForwardConfig struct {
	Auth Authenticator
	// DialOptions configure the connections to other members' API ports;
	// default: TLS with Config.TLS if set, else plaintext (for loopback
	// and tests). A connection that fails retries after a tenth of the
	// raft heartbeat timeout, then less often, up to the heartbeat timeout
	// apart (grpc.WithConnectParams here overrides that).
	DialOptions []grpc.DialOption
	// MaxSkew bounds the difference between a sender's and the leader's
	// clocks; default 30 s.
	MaxSkew time.Duration
	// Now defaults to time.Now.
	Now func() time.Time
}

const (
	forwardMagic   = "kmsd forward v1"
	nonceSize      = 16
	defaultMaxSkew = 30 * time.Second
)

// Error kinds of ForwardResponse.error_kind: the sentinel errors a command
// can return, so that a forwarded command fails exactly as a local one.
var forwardErrors = []struct {
	kind string
	err  error
}{
	{"not_found", keystore.ErrNotFound},
	{"already_exists", keystore.ErrAlreadyExists},
	{"invalid_state", keystore.ErrInvalidState},
	{"limit_exceeded", keystore.ErrLimitExceeded},
	{"invalid_mutation", keystore.ErrInvalidMutation},
	{"incorrect_material", keystore.ErrIncorrectMaterial},
	{"not_leader", ErrNotLeader},
	{"timeout", ErrTimeout},
	{"shutdown", ErrShutdown},
	{"invalid_command", ErrInvalidCommand},
	{"storage_full", ErrStorageFull},
	{"restoring", ErrRestoring},
}

func errorKind(err error) string {
	for _, e := range forwardErrors {
		if errors.Is(err, e.err) {
			return e.kind
		}
	}
	return "internal"
}

func kindError(kind, msg string) error {
	for _, e := range forwardErrors {
		if e.kind == kind {
			return fmt.Errorf("%w (at the leader: %s)", e.err, msg)
		}
	}
	return fmt.Errorf("cluster: leader failed: %s", msg)
}

// forwarder holds the connections to other members and the nonces seen.
type forwarder struct {
	cfg ForwardConfig
	// reconnect is how connections to members retry after a failed
	// connect (memberConnectParams).
	reconnect grpc.ConnectParams

	mu     sync.Mutex
	conns  map[string]*grpc.ClientConn // by API address
	used   map[string]time.Time        // when each of conns was last asked for
	leader string                      // the address conn was last asked for
	closed bool
	seen   map[[nonceSize]byte]time.Time
	swept  time.Time
}

// newForwarder returns a forwarder whose connections to members retry
// within heartbeat (the raft heartbeat timeout) after a failed connect.
func newForwarder(cfg ForwardConfig, heartbeat time.Duration) *forwarder {
	if cfg.MaxSkew <= 0 {
		cfg.MaxSkew = defaultMaxSkew
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.DialOptions == nil {
		cfg.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	return &forwarder{cfg: cfg, reconnect: memberConnectParams(heartbeat), conns: map[string]*grpc.ClientConn{},
		used: map[string]time.Time{}, seen: map[[nonceSize]byte]time.Time{}}
}

// memberConnectParams is how a connection to another member's API port
// retries after a failed connect: after a tenth of the raft heartbeat
// timeout at first, then growing to the heartbeat timeout at most.
// gRPC's default (1 s, growing to 120 s) suits many clients of one
// server; between the few members of a cluster it kept a member that had
// restarted unreachable for as long as the backoff had grown while it
// was down, even once it had been elected leader: followers could
// neither forward nor read for up to a second after a failover in which
// the new leader had itself restarted shortly before.
func memberConnectParams(heartbeat time.Duration) grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff: backoff.Config{BaseDelay: heartbeat / 10, Multiplier: backoff.DefaultConfig.Multiplier,
			Jitter: backoff.DefaultConfig.Jitter, MaxDelay: heartbeat},
		MinConnectTimeout: max(minMemberConnectTimeout, 4*heartbeat),
	}
}

// minMemberConnectTimeout bounds one connect to a member (TCP and TLS),
// at least: against a member cut off by a partition, a connect gives up in
// seconds, not gRPC's default 20 s, so that a new leader is reached soon
// after the partition heals.
const minMemberConnectTimeout = 2 * time.Second

func forwardMessage(from, to string, ts int64, nonce, command []byte) []byte {
	b := make([]byte, 0, len(forwardMagic)+8+len(from)+len(to)+8+len(nonce)+len(command))
	b = append(b, forwardMagic...)
	for _, s := range []string{from, to} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = append(b, nonce...)
	return append(b, command...)
}

// responseMessage is the text a leader's answer is authenticated with:
// bound to the request's nonce, so it answers that request only.
func responseMessage(nonce []byte, index, auditFirst uint64, kind, msg string) []byte {
	b := []byte("kmsd forward response v1")
	b = append(b, nonce...)
	b = binary.BigEndian.AppendUint64(b, index)
	b = binary.BigEndian.AppendUint64(b, auditFirst)
	for _, s := range []string{kind, msg} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	return b
}

// conn returns the connection to the member whose API address is addr:
// the leader's, for every caller. When the leader has changed since the
// last call, the connection's reconnect backoff is reset: it may have
// failed to connect while that member was down, and would fail every call
// with that old error until its backoff ends, although the member is back
// and has just been elected.
func (f *forwarder) conn(addr string) (*grpc.ClientConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrShutdown
	}
	c, ok := f.conns[addr]
	switch {
	case !ok:
		var err error
		if c, err = f.dial(addr); err != nil {
			return nil, err
		}
		f.conns[addr] = c
	case addr != f.leader:
		c.ResetConnectBackoff()
	}
	f.leader = addr
	now := f.cfg.Now()
	f.used[addr] = now
	f.closeIdleLocked(now)
	return c, nil
}

// connIdle is how long a connection to a member may go unused before it
// is closed: one to a member that left the cluster, or whose address
// changed, would otherwise stay open (and, the member gone, go on trying
// to reconnect) for as long as this node runs. A connection closed while
// still wanted is dialed again on its next use.
const connIdle = 10 * time.Minute

func (f *forwarder) closeIdleLocked(now time.Time) {
	for addr, t := range f.used {
		if now.Sub(t) > connIdle {
			f.conns[addr].Close()
			delete(f.conns, addr)
			delete(f.used, addr)
		}
	}
}

// dial returns a new connection to the member whose API address is addr.
func (f *forwarder) dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append([]grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxForwardBytes), grpc.MaxCallSendMsgSize(MaxForwardBytes)),
		grpc.WithConnectParams(f.reconnect),
	}, f.cfg.DialOptions...)...)
}

func (f *forwarder) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conns {
		c.Close()
	}
	f.conns, f.used, f.closed = nil, nil, true
}

// fresh records nonce and reports whether it is new and ts is within the
// allowed skew of now.
func (f *forwarder) fresh(nonce []byte, ts int64) bool {
	now := f.cfg.Now()
	t := time.UnixMilli(ts)
	if len(nonce) != nonceSize || t.Before(now.Add(-f.cfg.MaxSkew)) || t.After(now.Add(f.cfg.MaxSkew)) {
		return false
	}
	var k [nonceSize]byte
	copy(k[:], nonce)
	f.mu.Lock()
	defer f.mu.Unlock()
	if now.Sub(f.swept) > f.cfg.MaxSkew {
		for n, exp := range f.seen {
			if now.After(exp) {
				delete(f.seen, n)
			}
		}
		f.swept = now
	}
	if _, dup := f.seen[k]; dup {
		return false
	}
	f.seen[k] = now.Add(2 * f.cfg.MaxSkew)
	return true
}

// MaxForwardBytes bounds one forwarded command; the API server must accept
// messages this large (kmsd's does, and limits its own requests itself).
const MaxForwardBytes = 1 << 20

// leaderAPIAddr returns the current leader's id and API address.
func (n *Node) leaderAPIAddr() (string, string, error) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return "", "", fmt.Errorf("%w: no leader", ErrNotLeader)
	}
	for _, p := range n.cfg.Peers {
		if p.ID == string(id) && p.APIAddr != "" {
			return string(id), p.APIAddr, nil
		}
	}
	if a, ok := n.store.MemberAPIAddr(string(id)); ok {
		return string(id), a, nil
	}
	return "", "", fmt.Errorf("%w: the API address of leader %s is unknown", ErrNotLeader, id)
}

// forward sends an encoded command to the leader and returns its outcome
// as Apply would, once this node has applied the entry (or the wait for
// it timed out: the outcome stands, but reads may lag).
func (n *Node) forward(ctx context.Context, b []byte, leader, addr string) (any, error) {
	f := n.fwd
	timeout, err := n.timeout(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := f.conn(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	nonce := make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	ts := f.cfg.Now().UnixMilli()
	req := &clusterv1.ForwardRequest{Command: b, FromNode: n.cfg.NodeID, ToNode: leader, TimestampMs: ts, Nonce: nonce,
		Mac: f.cfg.Auth.MAC(forwardMessage(n.cfg.NodeID, leader, ts, nonce, b))}
	resp, err := clusterv1.NewForwardServiceClient(conn).Apply(ctx, req)
	if err != nil {
		// Sent but unanswered: the outcome is unknown.
		return nil, fmt.Errorf("%w: forwarding to the leader at %s: %v", ErrTimeout, addr, status.Convert(err).Message())
	}
	if !f.cfg.Auth.Verify(responseMessage(nonce, resp.GetIndex(), resp.GetAuditFirst(), resp.GetErrorKind(), resp.GetErrorMessage()), resp.GetMac()) {
		// Not the leader's answer: what happened to the command is unknown.
		return nil, fmt.Errorf("%w: the answer from %s is not authenticated", ErrTimeout, addr)
	}
	if k := resp.GetErrorKind(); k != "" {
		err := kindError(k, resp.GetErrorMessage())
		if errors.Is(err, ErrNotLeader) {
			// The node asked no longer leads and proposed nothing.
			return nil, fmt.Errorf("%w: %w", errStaleLeader, err)
		}
		if errors.Is(err, ErrTimeout) || errors.Is(err, ErrShutdown) {
			return nil, err
		}
		n.waitAppliedAfterForward(ctx, resp.GetIndex())
		return err, nil
	}
	var cmd clusterv1.Command
	if proto.Unmarshal(b, &cmd) == nil && cmd.Type == clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS {
		// An audit batch changes nothing the caller reads next: answer
		// as soon as the leader has committed it. Readers of the log here
		// wait for it (AuditBarrier).
		for idx := resp.GetIndex(); ; {
			cur := n.auditForwarded.Load()
			if idx <= cur || n.auditForwarded.CompareAndSwap(cur, idx) {
				break
			}
		}
		return auditAppended{first: resp.GetAuditFirst(), forwarded: true}, nil
	}
	n.waitAppliedAfterForward(ctx, resp.GetIndex())
	return nil, nil
}

// waitAppliedAfterForward waits until this node has applied a forwarded
// entry; if that takes too long the outcome stands, but reads may lag.
func (n *Node) waitAppliedAfterForward(ctx context.Context, index uint64) {
	if err := n.waitApplied(ctx, index); err != nil && !errors.Is(err, ErrShutdown) {
		n.log.Warn("forwarded entry not applied here in time; reads may lag", "index", index, "err", err)
	}
}

// ForwardServer returns the ForwardService for this node, to register on
// its API server.
func (n *Node) ForwardServer() clusterv1.ForwardServiceServer {
	return &forwardServer{n: n}
}

type forwardServer struct {
	clusterv1.UnimplementedForwardServiceServer
	n *Node
}

func (s *forwardServer) Apply(ctx context.Context, req *clusterv1.ForwardRequest) (*clusterv1.ForwardResponse, error) {
	resp, err := s.apply(ctx, req)
	if resp != nil {
		resp.Mac = s.n.fwd.cfg.Auth.MAC(responseMessage(req.GetNonce(), resp.GetIndex(), resp.GetAuditFirst(),
			resp.GetErrorKind(), resp.GetErrorMessage()))
	}
	return resp, err
}

func (s *forwardServer) apply(ctx context.Context, req *clusterv1.ForwardRequest) (*clusterv1.ForwardResponse, error) {
	n := s.n
	if n.fwd == nil {
		return nil, status.Error(codes.Unimplemented, "forwarding is not configured on this node")
	}
	if err := n.checkPeerCall(ctx); err != nil {
		n.log.Warn("forwarded command refused: not from a member certificate", "from_node", req.GetFromNode())
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	msg := forwardMessage(req.GetFromNode(), req.GetToNode(), req.GetTimestampMs(), req.GetNonce(), req.GetCommand())
	if !n.fwd.cfg.Auth.Verify(msg, req.GetMac()) {
		n.log.Warn("forwarded command refused: bad MAC", "from_node", req.GetFromNode())
		return nil, status.Error(codes.PermissionDenied, "forwarded command not authenticated")
	}
	if req.GetToNode() != n.cfg.NodeID {
		n.log.Warn("forwarded command refused: meant for another node", "from_node", req.GetFromNode(), "to_node", req.GetToNode())
		return nil, status.Error(codes.PermissionDenied, "forwarded command meant for another node")
	}
	if !n.fwd.fresh(req.GetNonce(), req.GetTimestampMs()) {
		n.log.Warn("forwarded command refused: stale or replayed", "from_node", req.GetFromNode())
		return nil, status.Error(codes.PermissionDenied, "forwarded command stale or replayed")
	}
	if !n.IsLeader() {
		return &clusterv1.ForwardResponse{ErrorKind: "not_leader", ErrorMessage: "not the leader"}, nil
	}
	var cmd clusterv1.Command
	if err := proto.Unmarshal(req.GetCommand(), &cmd); err != nil {
		return &clusterv1.ForwardResponse{ErrorKind: "invalid_command", ErrorMessage: "undecodable command"}, nil
	}
	resp, index, err := n.applyLocal(ctx, &cmd)
	if err != nil {
		return &clusterv1.ForwardResponse{ErrorKind: errorKind(err), ErrorMessage: err.Error()}, nil
	}
	out := &clusterv1.ForwardResponse{Index: index}
	switch r := resp.(type) {
	case auditAppended:
		out.AuditFirst = r.first
	case error:
		out.ErrorKind, out.ErrorMessage = errorKind(r), r.Error()
	}
	return out, nil
}
