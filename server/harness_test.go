package server

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// directProposer applies mutations straight to the store, standing in for
// the Raft log in unit tests (the cluster package tests the real path).
type directProposer struct {
	mu    sync.Mutex
	store *keystore.Store
	index uint64
	// failAudit, when set, fails every audit append.
	failAudit error
}

func (p *directProposer) ApplyMutation(ctx context.Context, m *keystore.Mutation) error {
	b, err := m.Encode()
	if err != nil {
		return err
	}
	dm, err := keystore.DecodeMutation(b)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	return p.store.Apply(p.index, dm)
}

func (p *directProposer) IsLeader() bool { return true }

func (p *directProposer) AppendAudit(ctx context.Context, records [][]byte, ids []string, macs [][]byte) (uint64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failAudit != nil {
		return 0, p.failAudit
	}
	p.index++
	first, _, err := p.store.AppendLog(p.index, records, ids, macs...)
	return first, err
}

func (p *directProposer) AppendAuditHead(ctx context.Context, seq uint64, head []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	return p.store.AppendLogHead(p.index, seq, head)
}

func (p *directProposer) SetAuditKey(ctx context.Context, k keystore.LogKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	return p.store.SetLogKey(p.index, k)
}

func (p *directProposer) PruneAudit(ctx context.Context, from, upTo uint64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	return p.store.PruneLog(p.index, from, upTo)
}

// setAuditFailure makes every later audit append fail with err (nil: succeed).
func (p *directProposer) setAuditFailure(err error) {
	p.mu.Lock()
	p.failAudit = err
	p.mu.Unlock()
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type harness struct {
	srv    *Server
	store  *keystore.Store
	client kmsv1.KeyManagementServiceClient
	clock  *fakeClock
	audit  kmsv1.AuditServiceClient
	prop   *directProposer
	conn   *grpc.ClientConn
}

// newHarness starts a Server on a loopback listener with a real Badger
// store in a temporary directory.
func newHarness(t *testing.T) *harness {
	return newHarnessTB(t)
}

func newHarnessTB(t testing.TB, configure ...func(*Config)) *harness {
	t.Helper()
	store, err := keystore.Open(t.TempDir(), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	root, err := envelope.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	al, err := OpenAuditLog(store)
	if err != nil {
		t.Fatal(err)
	}
	prop := &directProposer{store: store}
	cfg := Config{Store: store, Proposer: prop, RootKey: root, Now: clock.Now, AuditLog: al, AuditProposer: prop}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(func() { g.Stop(); srv.Close() })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &harness{srv: srv, store: store, client: kmsv1.NewKeyManagementServiceClient(conn), clock: clock,
		audit: kmsv1.NewAuditServiceClient(conn), prop: prop, conn: conn}
}

func (h *harness) createKey(t *testing.T) *kmsv1.KeyMetadata {
	t.Helper()
	resp, err := h.client.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{Description: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetKeyMetadata()
}

// wantException fails the test unless err carries the AWS exception name.
func wantException(t *testing.T, err error, name string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %s", name)
	}
	if got := ExceptionName(err); got != name {
		t.Fatalf("got %v (exception %q), want %s", err, got, name)
	}
}

var discardLogger = slog.New(slog.DiscardHandler)

func mustKeyID(t *testing.T, s string) envelope.KeyID {
	t.Helper()
	id, err := envelope.ParseKeyID(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
