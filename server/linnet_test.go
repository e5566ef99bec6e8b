package server

import (
	"crypto/rand"
	"fmt"
	"io"
	"maps"
	mrand "math/rand/v2"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/testnet"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

// A partitionable in-process cluster for TestLinearizability. Every member
// reaches every other one, for Raft and for forwarding and read indexes
// alike, through a TCP proxy of its own per destination (a link), so a
// link can be cut in one direction: member i stops reaching member j while
// j still reaches i. Each member is bootstrapped with its own view of the
// peers' addresses (its links), which raft keeps as long as no
// configuration change or snapshot from another member replaces it; the
// test makes neither. Clients talk to members' API ports directly.

// linLink forwards connections from one member to another until cut.
type linLink struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{}
}

func newLinLink(t *testing.T, target string) *linLink {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &linLink{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go l.serve()
	t.Cleanup(func() { ln.Close(); l.setCut(true) })
	return l
}

func (l *linLink) addr() string { return l.ln.Addr().String() }

func (l *linLink) serve() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		go l.pipe(c)
	}
}

// pipe joins c to a new connection to the target, unless the link is cut.
func (l *linLink) pipe(c net.Conn) {
	d, err := net.DialTimeout("tcp", l.target, time.Second)
	if err != nil {
		c.Close()
		return
	}
	if !l.track(c, d) {
		c.Close()
		d.Close()
		return
	}
	done := make(chan struct{}, 2)
	for _, p := range [][2]net.Conn{{c, d}, {d, c}} {
		go func() {
			io.Copy(p[0], p[1])
			done <- struct{}{}
		}()
	}
	<-done
	c.Close()
	d.Close()
	<-done
	l.mu.Lock()
	delete(l.conns, c)
	delete(l.conns, d)
	l.mu.Unlock()
}

func (l *linLink) track(cs ...net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return false
	}
	for _, c := range cs {
		l.conns[c] = struct{}{}
	}
	return true
}

// setCut cuts the link (closing its connections and refusing new ones)
// or restores it.
func (l *linLink) setCut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		for c := range l.conns {
			c.Close()
		}
	}
}

// linCluster is a cluster of members joined by links.
type linCluster struct {
	ms []*member
	// raft[i][j] and api[i][j] carry member i's connections to member j
	// (nil for i == j).
	raft, api [][]*linLink
}

// linBackoff makes gRPC clients reconnect within 100 ms once a member
// or a link is back, instead of backing off for up to two minutes.
var linBackoff = grpc.WithConnectParams(grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 10 * time.Millisecond, Multiplier: 1.6, MaxDelay: 100 * time.Millisecond},
	MinConnectTimeout: time.Second,
})

func newLinCluster(t *testing.T, n int) *linCluster {
	t.Helper()
	root, _ := envelope.GenerateKey(rand.Reader)
	auth, err := NewForwardAuth(root)
	if err != nil {
		t.Fatal(err)
	}
	var real []cluster.Peer
	for i := range n {
		real = append(real, cluster.Peer{ID: fmt.Sprintf("n%d", i), Addr: linFreeAddr(t), APIAddr: linFreeAddr(t)})
	}
	c := &linCluster{raft: make([][]*linLink, n), api: make([][]*linLink, n)}
	for i := range n {
		c.raft[i], c.api[i] = make([]*linLink, n), make([]*linLink, n)
		for j := range n {
			if i != j {
				c.raft[i][j], c.api[i][j] = newLinLink(t, real[j].Addr), newLinLink(t, real[j].APIAddr)
			}
		}
	}
	for i, p := range real {
		peers := make([]cluster.Peer, n)
		for j := range n {
			peers[j] = real[j]
			if i != j {
				peers[j] = cluster.Peer{ID: real[j].ID, Addr: c.raft[i][j].addr(), APIAddr: c.api[i][j].addr()}
			}
		}
		m := &member{apiAddr: p.APIAddr, root: root}
		conn, err := grpc.NewClient(p.APIAddr, grpc.WithTransportCredentials(insecure.NewCredentials()), linBackoff)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		m.kms, m.audit = kmsv1.NewKeyManagementServiceClient(conn), kmsv1.NewAuditServiceClient(conn)
		dir := t.TempDir()
		m.boot = func() { linBoot(t, m, dir, p, peers, auth) }
		m.boot()
		c.ms = append(c.ms, m)
		t.Cleanup(m.stop)
	}
	return c
}

// linBoot (re)starts member m on dir, as newMembersWithClocks does, with
// its own view of the peers.
func linBoot(t *testing.T, m *member, dir string, self cluster.Peer, peers []cluster.Peer, auth cluster.Authenticator) {
	store, err := keystore.Open(filepath.Join(dir, "state"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	al, err := OpenAuditLog(store)
	if err != nil {
		t.Fatal(err)
	}
	fwd := &cluster.ForwardConfig{Auth: auth,
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), linBackoff}}
	node, err := cluster.New(cluster.Config{NodeID: self.ID, BindAddr: self.Addr, Dir: filepath.Join(dir, "raft"),
		Bootstrap: true, Peers: peers, HeartbeatTimeout: 100 * time.Millisecond, ElectionTimeout: 100 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, ApplyTimeout: 2 * time.Second, Forward: fwd}, store)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Store: store, Proposer: node, RootKey: m.root, NodeID: self.ID, AuditLog: al,
		AuditProposer: node, Reads: node, MutationTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	clusterv1.RegisterForwardServiceServer(g, node.ForwardServer())
	lis, err := net.Listen("tcp", self.APIAddr)
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	m.store, m.node, m.srv, m.g, m.down = store, node, srv, g, false
}

// linFreeAddr returns a free loopback address for a member to listen on,
// again after each restart. Its port lies below the kernel's range of
// ephemeral ports, where no outgoing connection (a proxy's, a client's)
// can take it while the member is down.
func linFreeAddr(t testing.TB) string {
	t.Helper()
	return testnet.FreeAddr(t)
}

// cut cuts (or heals) member from's connections to member to.
func (c *linCluster) cut(from, to int, cut bool) {
	c.raft[from][to].setCut(cut)
	c.api[from][to].setCut(cut)
}

// healAll restores every link.
func (c *linCluster) healAll() {
	for i := range c.ms {
		for j := range c.ms {
			if i != j {
				c.cut(i, j, false)
			}
		}
	}
}

// leader returns the index of a running member that leads, or -1.
func (c *linCluster) leader() int {
	for i, m := range c.ms {
		if !m.down && m.node.IsLeader() {
			return i
		}
	}
	return -1
}

// linFaults counts the faults injected, by kind.
type linFaults struct {
	kinds map[string]int
	// rate is the operations per second of the second before the first
	// fault (or the best second seen, if there was none).
	rate float64
}

func (f *linFaults) total() int {
	n := 0
	for _, c := range f.kinds {
		n += c
	}
	return n
}

func (f *linFaults) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(f.kinds)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, f.kinds[k]))
	}
	return strings.Join(parts, ", ")
}

// healthy waits until the clients completed minRate operations per second
// over the last second, and reports whether that happened before
// deadline.
func (f *linFaults) healthy(h *linHistory, minRate float64, deadline time.Time) bool {
	for {
		r := h.rate(time.Second)
		f.rate = max(f.rate, r)
		if r >= minRate {
			f.rate = r
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// linNemesis injects a fault every 1–3 s until deadline, each lasting
// 0.3–1 s: it kills the leader and restarts it on its data, isolates the
// leader or another member, or cuts one member's links in one direction
// (the leader cannot reach the others, or the others cannot reach a
// member). It takes the kinds in turn, starting with the first'th. The
// first fault waits until the clients have completed minRate operations
// per second over a second. It runs on the
// test's goroutine (member.boot may call t.Fatal) and leaves every member
// running and every link restored.
func linNemesis(t *testing.T, c *linCluster, h *linHistory, rng *mrand.Rand, first int, minRate float64, deadline time.Time) *linFaults {
	faults := &linFaults{kinds: map[string]int{}}
	defer func() {
		c.healAll()
		for _, m := range c.ms {
			if m.down {
				m.boot()
			}
		}
	}()
	for i := first; ; i++ {
		wait := time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
		if time.Now().Add(wait).After(deadline) {
			time.Sleep(time.Until(deadline))
			return faults
		}
		time.Sleep(wait)
		if i == first && !faults.healthy(h, minRate, deadline) {
			return faults
		}
		victim := c.leader()
		kind := i % 5 // every kind in turn, from where the seed says
		if victim < 0 || kind >= 3 {
			victim = rng.IntN(len(c.ms))
		}
		h.fault()
		var name string
		switch kind {
		case 0:
			name = "leader killed"
			if !c.ms[victim].node.IsLeader() {
				name = "member killed (no leader)"
			}
			c.ms[victim].stop()
		case 1, 3:
			name = "member isolated"
			if kind == 1 {
				name = "leader isolated"
			}
			for j := range c.ms {
				if j != victim {
					c.cut(victim, j, true)
					c.cut(j, victim, true)
				}
			}
		case 2:
			name = "leader cannot send"
			for j := range c.ms {
				if j != victim {
					c.cut(victim, j, true)
				}
			}
		case 4:
			name = "member cannot receive"
			for j := range c.ms {
				if j != victim {
					c.cut(j, victim, true)
				}
			}
		}
		faults.kinds[name]++
		time.Sleep(300*time.Millisecond + time.Duration(rng.Int64N(int64(700*time.Millisecond))))
		during := c.leader()
		c.healAll()
		if c.ms[victim].down {
			c.ms[victim].boot()
		}
		t.Logf("%.3fs: %s: n%d; then n%d led", (time.Duration(h.since()) - h.clients).Seconds(), name, victim, during)
	}
}
