package cluster

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// Membership. A node started without peers and with no Raft state joins a
// running cluster by asking any member (Join): the request carries the
// node's id and addresses and is authenticated like a forwarded command,
// so only a holder of the root key can join. The leader adds the node as
// a voter (or a non-voter, if it asks to be one) and records its API address in the replicated state, where every
// member finds it when it must forward to that node as leader. RemoveMember
// takes a member out of the configuration.

const membershipMagic = "kmsd membership v1"

func membershipMessage(r *clusterv1.MembershipRequest) []byte {
	b := []byte(membershipMagic)
	for _, flag := range []bool{r.GetRemove(), r.GetNonVoter()} {
		if flag {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	for _, s := range []string{r.GetNodeId(), r.GetRaftAddress(), r.GetApiAddress(), r.GetFromNode()} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(r.GetTimestampMs()))
	return append(b, r.GetNonce()...)
}

// signMembership fills the sender, freshness and MAC fields of r.
func (n *Node) signMembership(r *clusterv1.MembershipRequest) error {
	if n.fwd == nil {
		return errors.New("cluster: membership changes need Config.Forward")
	}
	r.FromNode, r.TimestampMs, r.Nonce = n.cfg.NodeID, n.fwd.cfg.Now().UnixMilli(), make([]byte, nonceSize)
	if _, err := rand.Read(r.Nonce); err != nil {
		return err
	}
	r.Mac = n.fwd.cfg.Auth.MAC(membershipMessage(r))
	return nil
}

// Join asks the member whose API address is target to add this node to
// its cluster, as a voter or, with Config.NonVoter, a non-voter. It is for a node that has no Raft state yet;
// Config.APIAddr and the Raft address others reach this node at must be
// set.
func (n *Node) Join(ctx context.Context, target string) error {
	r := &clusterv1.MembershipRequest{NodeId: n.cfg.NodeID, RaftAddress: string(n.trans.LocalAddr()), ApiAddress: n.cfg.APIAddr,
		NonVoter: n.cfg.NonVoter}
	if n.cfg.AdvertiseAddr != "" {
		r.RaftAddress = n.cfg.AdvertiseAddr
	}
	if err := n.signMembership(r); err != nil {
		return err
	}
	return n.sendMembership(ctx, target, r)
}

// RemoveMember takes member id out of the cluster. On a follower the
// request goes to the leader.
func (n *Node) RemoveMember(ctx context.Context, id string) error {
	return n.changeAnywhere(ctx, &clusterv1.MembershipRequest{Remove: true, NodeId: id})
}

// AddMember adds node id, reachable at raftAddr (Raft) and apiAddr (gRPC
// API), to the cluster as a voter or a non-voter. On a follower the
// request goes to the leader.
func (n *Node) AddMember(ctx context.Context, id, raftAddr, apiAddr string, nonVoter bool) error {
	r := &clusterv1.MembershipRequest{NodeId: id, RaftAddress: raftAddr, ApiAddress: apiAddr, NonVoter: nonVoter}
	return n.changeAnywhere(ctx, r)
}

// changeAnywhere carries out r here if this node leads, else sends it to
// the leader.
func (n *Node) changeAnywhere(ctx context.Context, r *clusterv1.MembershipRequest) error {
	if n.IsLeader() || n.fwd == nil {
		return n.changeMembership(ctx, r)
	}
	if err := n.signMembership(r); err != nil {
		return err
	}
	_, addr, err := n.leaderAPIAddr()
	if err != nil {
		return err
	}
	return n.sendMembership(ctx, addr, r)
}

func (n *Node) sendMembership(ctx context.Context, addr string, r *clusterv1.MembershipRequest) error {
	conn, err := n.fwd.conn(addr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	timeout, err := n.timeout(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := clusterv1.NewForwardServiceClient(conn).ChangeMembership(ctx, r)
	if err != nil {
		return fmt.Errorf("%w: membership change at %s: %v", ErrTimeout, addr, status.Convert(err).Message())
	}
	if !n.fwd.cfg.Auth.Verify(responseMessage(r.GetNonce(), 0, 0, resp.GetErrorKind(), resp.GetErrorMessage()), resp.GetMac()) {
		return fmt.Errorf("%w: the answer from %s is not authenticated", ErrTimeout, addr)
	}
	if k := resp.GetErrorKind(); k != "" {
		return kindError(k, resp.GetErrorMessage())
	}
	return nil
}

// changeMembership carries out r on the leader: the configuration change,
// then the record of the member's API address.
func (n *Node) changeMembership(ctx context.Context, r *clusterv1.MembershipRequest) error {
	timeout, err := n.timeout(ctx)
	if err != nil {
		return err
	}
	if r.GetRemove() && r.GetNodeId() == n.cfg.NodeID && n.fwd != nil {
		// A leader asked to remove itself hands leadership to another
		// voter first, and the new leader removes it: so the removal,
		// and the record of it, are committed by a leader that stays.
		if err := n.wait(ctx, n.raft.LeadershipTransfer(), timeout); err != nil {
			return fmt.Errorf("cluster: hand leadership over before leaving: %w", err)
		}
		_, addr, err := n.findLeader(ctx)
		if errors.Is(err, errSelf) {
			return fmt.Errorf("%w: leadership stayed here", ErrTimeout)
		}
		if err != nil {
			return err
		}
		// A new request of this node's own; r's nonce still binds the
		// answer to the request this one came from.
		own := proto.Clone(r).(*clusterv1.MembershipRequest)
		if err := n.signMembership(own); err != nil {
			return err
		}
		return n.sendMembership(ctx, addr, own)
	}
	// A node that joins knows the others' API addresses only from the
	// replicated records, and any member may lead later: record this
	// leader's and those of the members started together (Config.Peers)
	// that have none yet.
	if !r.GetRemove() {
		known := append([]Peer{{ID: n.cfg.NodeID, APIAddr: n.cfg.APIAddr}}, n.cfg.Peers...)
		for _, p := range known {
			if _, ok := n.store.MemberAPIAddr(p.ID); !ok && p.APIAddr != "" && p.ID != r.GetNodeId() {
				if err := n.recordMember(ctx, p.ID, p.APIAddr); err != nil {
					return err
				}
			}
		}
	}
	var f raft.Future
	if r.GetRemove() {
		f = n.raft.RemoveServer(raft.ServerID(r.GetNodeId()), 0, timeout)
	} else if r.GetNonVoter() && n.isVoter(ctx, r.GetNodeId()) {
		f = n.raft.DemoteVoter(raft.ServerID(r.GetNodeId()), 0, timeout)
	} else if r.GetNonVoter() {
		f = n.raft.AddNonvoter(raft.ServerID(r.GetNodeId()), raft.ServerAddress(r.GetRaftAddress()), 0, timeout)
	} else {
		// Also promotes a non-voter that joins again as a voter.
		f = n.raft.AddVoter(raft.ServerID(r.GetNodeId()), raft.ServerAddress(r.GetRaftAddress()), 0, timeout)
	}
	if err := n.wait(ctx, f, timeout); err != nil {
		return err
	}
	api := r.GetApiAddress()
	if r.GetRemove() {
		api = ""
	}
	err = n.recordMember(ctx, r.GetNodeId(), api)
	if err == nil {
		n.log.Info("cluster membership changed", "node_id", r.GetNodeId(), "removed", r.GetRemove(), "non_voter", r.GetNonVoter(), "raft_addr", r.GetRaftAddress())
	}
	return err
}

// isVoter reports whether id is a voter of the current configuration.
func (n *Node) isVoter(ctx context.Context, id string) bool {
	f := n.raft.GetConfiguration()
	if n.wait(ctx, f, n.cfg.applyTimeout()) != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(id) {
			return s.Suffrage == raft.Voter
		}
	}
	return false
}

func (f *fsm) applyMember(index uint64, cmd *clusterv1.Command) any {
	var m clusterv1.MemberInfo
	if err := proto.Unmarshal(cmd.Payload, &m); err != nil {
		panic(fmt.Sprintf("cluster: undecodable member info at index %d: %v", index, err))
	}
	return f.outcome(index, nil, f.store.SetMember(index, m.NodeId, m.ApiAddress))
}

func (s *forwardServer) ChangeMembership(ctx context.Context, req *clusterv1.MembershipRequest) (*clusterv1.MembershipResponse, error) {
	resp, err := s.changeMembership(ctx, req)
	if resp != nil {
		resp.Mac = s.n.fwd.cfg.Auth.MAC(responseMessage(req.GetNonce(), 0, 0, resp.GetErrorKind(), resp.GetErrorMessage()))
	}
	return resp, err
}

func (s *forwardServer) changeMembership(ctx context.Context, req *clusterv1.MembershipRequest) (*clusterv1.MembershipResponse, error) {
	n := s.n
	if n.fwd == nil {
		return nil, status.Error(codes.Unimplemented, "membership changes are not configured on this node")
	}
	if err := n.checkPeerCall(ctx); err != nil {
		n.log.Warn("membership change refused: not from a member certificate", "node_id", req.GetNodeId())
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	if !n.fwd.cfg.Auth.Verify(membershipMessage(req), req.GetMac()) || !n.fwd.fresh(req.GetNonce(), req.GetTimestampMs()) {
		n.log.Warn("membership change refused: not authenticated, stale or replayed", "node_id", req.GetNodeId(), "from_node", req.GetFromNode())
		return nil, status.Error(codes.PermissionDenied, "membership change not authenticated")
	}
	if req.GetNodeId() == "" || (!req.GetRemove() && (req.GetRaftAddress() == "" || req.GetApiAddress() == "")) {
		return &clusterv1.MembershipResponse{ErrorKind: "invalid_command", ErrorMessage: "node id and addresses required"}, nil
	}
	var err error
	if n.IsLeader() {
		err = n.changeMembership(ctx, req)
	} else if _, addr, aerr := n.leaderAPIAddr(); aerr != nil {
		err = aerr
	} else {
		err = n.sendMembership(ctx, addr, req) // relayed as signed by its sender
	}
	if err != nil {
		return &clusterv1.MembershipResponse{ErrorKind: errorKind(err), ErrorMessage: err.Error()}, nil
	}
	return &clusterv1.MembershipResponse{}, nil
}

// recordMember commits member id's API address (empty: forget it).
func (n *Node) recordMember(ctx context.Context, id, api string) error {
	payload, err := proto.Marshal(&clusterv1.MemberInfo{NodeId: id, ApiAddress: api})
	if err != nil {
		return err
	}
	_, _, err = n.applyLocal(ctx, &clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_MEMBER, Payload: payload})
	return err
}
