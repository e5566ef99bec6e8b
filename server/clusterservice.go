package server

import (
	"context"
	"net"
	"strings"

	"github.com/kmsd/kmsd/cluster"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// ClusterInfo reports on the Raft cluster.
type ClusterInfo interface {
	Status() (cluster.Status, error)
	RemoveMember(ctx context.Context, id string) error
	AddMember(ctx context.Context, id, raftAddr, apiAddr string, nonVoter bool) error
}

// clusterService implements kms.v1.ClusterService.
type clusterService struct {
	kmsv1.UnimplementedClusterServiceServer
	info  ClusterInfo
	audit *AuditLog // nil when the audit log is off
	srv   *Server
}

func (c *clusterService) GetClusterStatus(ctx context.Context, _ *kmsv1.GetClusterStatusRequest) (*kmsv1.GetClusterStatusResponse, error) {
	st, err := c.info.Status()
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.GetClusterStatusResponse{NodeId: st.NodeID, State: st.State, LeaderId: st.LeaderID, Term: st.Term,
		LastLogIndex: st.LastLogIndex, CommitIndex: st.CommitIndex, AppliedIndex: st.AppliedIndex, StateDigest: st.StateDigest[:]}
	if c.audit != nil {
		size, _ := c.audit.Size()
		if root, err := c.audit.Root(size); err == nil {
			resp.AuditSize, resp.AuditRoot = size, root[:]
		}
	}
	for _, m := range st.Members {
		suffrage := "Nonvoter"
		if m.Voter {
			suffrage = "Voter"
		}
		resp.Members = append(resp.Members, &kmsv1.ClusterMember{NodeId: m.ID, RaftAddress: m.Addr, ApiAddress: m.APIAddr,
			Suffrage: suffrage, Leader: m.Leader})
	}
	return resp, nil
}

func (c *clusterService) RemoveMember(ctx context.Context, req *kmsv1.RemoveMemberRequest) (*kmsv1.RemoveMemberResponse, error) {
	if req.GetNodeId() == "" {
		return nil, validationError("NodeId is required.")
	}
	st, err := c.info.Status()
	if err != nil {
		return nil, err
	}
	known := false
	for _, m := range st.Members {
		known = known || m.ID == req.GetNodeId()
	}
	if !known {
		return nil, notFound("No member has node id %q.", truncate(req.GetNodeId(), 256))
	}
	if err := c.info.RemoveMember(ctx, req.GetNodeId()); err != nil {
		return nil, err
	}
	return &kmsv1.RemoveMemberResponse{}, nil
}

func (c *clusterService) AddMember(ctx context.Context, req *kmsv1.AddMemberRequest) (*kmsv1.AddMemberResponse, error) {
	id := req.GetNodeId()
	if id == "" || len(id) > 128 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		return nil, validationError("NodeId must be 1 to 128 letters, digits, '-', '_' or '.'.")
	}
	for _, a := range []struct{ name, addr string }{{"RaftAddress", req.GetRaftAddress()}, {"ApiAddress", req.GetApiAddress()}} {
		host, port, err := net.SplitHostPort(a.addr)
		if err != nil || host == "" || port == "" || len(a.addr) > 256 {
			return nil, validationError("%s must be HOST:PORT.", a.name)
		}
	}
	if err := c.info.AddMember(ctx, id, req.GetRaftAddress(), req.GetApiAddress(), req.GetNonVoter()); err != nil {
		return nil, err
	}
	return &kmsv1.AddMemberResponse{}, nil
}
