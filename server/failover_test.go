package server

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// member is one node of an in-process cluster: key store, Raft node over
// TCP on 127.0.0.1, and the API server, sharing a clock and root key.
type member struct {
	store *keystore.Store
	node  *cluster.Node
	srv   *Server
	// g serves the member's API and ForwardService on apiAddr; kms and
	// audit are clients of it.
	g       *grpc.Server
	apiAddr string
	kms     kmsv1.KeyManagementServiceClient
	audit   kmsv1.AuditServiceClient
	root    envelope.Key
	// boot (re)starts the member on its data directory.
	boot func()
	down bool
}

func newMembers(t *testing.T, n int, clock *fakeClock) []*member {
	t.Helper()
	clocks := make([]func() time.Time, n)
	for i := range clocks {
		clocks[i] = clock.Now
	}
	return newMembersWithClocks(t, clocks)
}

// newMembersWithClocks starts one member per clock.
// memberRaftTimeout is the members' raft heartbeat and election timeout
// (their leader lease is half of it). 100 ms holds on a loaded machine
// under the race detector; R3's in-process figure is for 50 ms.
var memberRaftTimeout = flag.Duration("member-raft-timeout", 100*time.Millisecond, "raft heartbeat and election timeout of in-process members")

func newMembersWithClocks(t *testing.T, clocks []func() time.Time, configure ...func(*Config)) []*member {
	t.Helper()
	n := len(clocks)
	root, _ := envelope.GenerateKey(rand.Reader)
	var peers []cluster.Peer
	for i := range n {
		// Ports below the ephemeral range: between now and the member's
		// start, no outgoing connection can take them.
		peers = append(peers, cluster.Peer{ID: fmt.Sprintf("n%d", i), Addr: linFreeAddr(t), APIAddr: linFreeAddr(t)})
	}
	auth, err := NewForwardAuth(root)
	if err != nil {
		t.Fatal(err)
	}
	var ms []*member
	for i, p := range peers {
		dir := t.TempDir()
		m := &member{apiAddr: p.APIAddr, root: root}
		// Members are killed and restarted again and again: reconnect
		// within milliseconds rather than after gRPC's default backoff
		// (1 s and growing), which would be measured as the cluster's
		// unavailability.
		conn, err := grpc.NewClient(p.APIAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 5 * time.Millisecond,
				Multiplier: 1.6, Jitter: 0.2, MaxDelay: 50 * time.Millisecond}, MinConnectTimeout: time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		m.kms, m.audit = kmsv1.NewKeyManagementServiceClient(conn), kmsv1.NewAuditServiceClient(conn)
		m.boot = func() {
			store, err := keystore.Open(filepath.Join(dir, "state"), keystore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			al, err := OpenAuditLog(store)
			if err != nil {
				t.Fatal(err)
			}
			// Members restart many times a minute, and a restart
			// replays every entry since the last snapshot: snapshot
			// every second once 1,024 entries are in the log, not
			// every 120 s, so that restarts do not replay a log
			// that grows through the whole run.
			node, err := cluster.New(cluster.Config{NodeID: p.ID, BindAddr: p.Addr, Dir: filepath.Join(dir, "raft"),
				Bootstrap: true, Peers: peers, HeartbeatTimeout: *memberRaftTimeout, ElectionTimeout: *memberRaftTimeout,
				LeaderLeaseTimeout: *memberRaftTimeout / 2, SnapshotInterval: time.Second, SnapshotThreshold: 1024,
				TrailingLogs: 1024, Forward: &cluster.ForwardConfig{Auth: auth}}, store)
			if err != nil {
				t.Fatal(err)
			}
			cfg := Config{Store: store, Proposer: node, RootKey: root, Now: clocks[i], NodeID: p.ID,
				AuditLog: al, AuditProposer: node, Reads: node}
			for _, f := range configure {
				f(&cfg)
			}
			srv, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			g := grpc.NewServer(srv.ServerOptions()...)
			srv.Register(g)
			clusterv1.RegisterForwardServiceServer(g, node.ForwardServer())
			lis, err := net.Listen("tcp", p.APIAddr)
			if err != nil {
				t.Fatal(err)
			}
			go g.Serve(lis)
			m.store, m.node, m.srv, m.g, m.down = store, node, srv, g, false
		}
		m.boot()
		ms = append(ms, m)
		t.Cleanup(m.stop)
	}
	return ms
}

// stop shuts the member down, as a crash would for its peers: its
// in-memory state (budgets, pending counts) is lost.
func (m *member) stop() {
	if m.down {
		return
	}
	m.down = true
	m.g.Stop()
	m.srv.Close()
	m.node.Shutdown()
	m.store.Close()
}

// leaderOf waits for one of the running members to lead.
func leaderOf(t *testing.T, ms []*member) *member {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range ms {
			if m.node.IsLeader() {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil
}

// waitApplied waits until every member has applied the same state.
func waitApplied(t *testing.T, ms []*member) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// The same state at the same applied index: the digest leaves
		// the audit log out, and the last entries may be audit batches
		// acknowledged once committed that a member has not written yet.
		for _, m := range ms {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			m.node.AuditBarrier(ctx)
			cancel()
		}
		same := true
		i0, d0 := ms[0].store.DigestAt()
		for _, m := range ms[1:] {
			i, d := m.store.DigestAt()
			same = same && i == i0 && d == d0
		}
		if same {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("members did not converge")
}

// TestDueRotationAcrossLeaderChange: a rotation that falls due is carried
// out exactly once when the leader changes, whether the old leader had
// already proposed it or not (R13, the rotation part).
func TestDueRotationAcrossLeaderChange(t *testing.T) {
	for _, proposedBeforeFailover := range []bool{true, false} {
		t.Run(fmt.Sprintf("proposed=%v", proposedBeforeFailover), func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
			ms := newMembers(t, 3, clock)
			ctx := context.Background()
			old := leaderOf(t, ms)
			resp, err := old.srv.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
			if err != nil {
				t.Fatal(err)
			}
			id := resp.GetKeyMetadata().GetKeyId()
			if _, err := old.srv.EnableKeyRotation(ctx, &kmsv1.EnableKeyRotationRequest{KeyId: id, RotationPeriodInDays: 90}); err != nil {
				t.Fatal(err)
			}
			waitApplied(t, ms)
			clock.Advance(91 * 24 * time.Hour)
			if proposedBeforeFailover {
				old.srv.runDue(ctx)
			}
			old.node.Shutdown()
			var rest []*member
			for _, m := range ms {
				if m != old {
					rest = append(rest, m)
				}
			}
			next := leaderOf(t, rest)
			// The new leader's scheduler runs, possibly on a view that has
			// not applied the old leader's rotation yet, and again later.
			next.srv.runDue(ctx)
			waitApplied(t, rest)
			next.srv.runDue(ctx)
			waitApplied(t, rest)
			for _, m := range rest {
				k, err := m.store.Key(id)
				if err != nil {
					t.Fatal(err)
				}
				if len(k.Versions) != 2 {
					t.Fatalf("%d versions on a member, want exactly 2 (one rotation)", len(k.Versions))
				}
			}
		})
	}
}
