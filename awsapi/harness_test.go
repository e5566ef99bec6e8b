package awsapi

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/auth"
	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	"github.com/kmsd/kmsd/server"
)

// testEnv is kmsd in one process: a Raft cluster of one on Badger in a
// temporary directory, the server with authentication and the audit log,
// its gRPC API and the AWS endpoint on loopback listeners.
type testEnv struct {
	srv      *server.Server
	store    *keystore.Store
	url      string // the AWS endpoint
	grpcAddr string
	root     auth.Credentials
	// offset moves the server's clock (not the endpoint's) forward.
	offset atomic.Int64
}

func (e *testEnv) now() time.Time { return time.Now().Add(time.Duration(e.offset.Load())) }

func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	store, err := keystore.Open(filepath.Join(dir, "state"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	al, err := server.OpenAuditLog(store)
	if err != nil {
		t.Fatal(err)
	}
	node, err := cluster.New(cluster.Config{
		NodeID: "n1", BindAddr: "127.0.0.1:0", Dir: filepath.Join(dir, "raft"), Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond,
	}, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	root, err := envelope.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{store: store}
	srv, err := server.New(server.Config{Store: store, Proposer: node, RootKey: root, AuditLog: al, AuditProposer: node,
		Reads: node, Authenticate: true, Now: e.now})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	id, secret := server.RootAccessKey(root)
	e.root = auth.Credentials{AccessKeyID: id, SecretAccessKey: secret}

	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	glis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(glis)
	e.grpcAddr = glis.Addr().String()

	h, err := New(Config{Server: srv})
	if err != nil {
		t.Fatal(err)
	}
	hlis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go hs.Serve(hlis)
	e.url = "http://" + hlis.Addr().String()
	t.Cleanup(func() {
		hs.Close()
		g.Stop()
		srv.Close()
		node.Shutdown()
		store.Close()
	})
	return e
}

// sdk returns an AWS SDK client of the endpoint signing with c.
func (e *testEnv) sdk(c auth.Credentials) *kms.Client {
	return kms.New(kms.Options{
		Region:           server.DefaultRegion,
		BaseEndpoint:     aws.String(e.url),
		Credentials:      credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken),
		RetryMaxAttempts: 1,
	})
}

// conn returns a gRPC connection signing with c.
func (e *testEnv) conn(t testing.TB, c auth.Credentials) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(e.grpcAddr, append(auth.DialOptions(c), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

// iam returns the IdentityManagementService as the root.
func (e *testEnv) iam(t testing.TB) kmsv1.IdentityManagementServiceClient {
	return kmsv1.NewIdentityManagementServiceClient(e.conn(t, e.root))
}

// userCreds makes an IAM user with an access key and an inline policy.
func (e *testEnv) userCreds(t testing.TB, name, policy string) auth.Credentials {
	t.Helper()
	ctx := context.Background()
	admin := e.iam(t)
	if _, err := admin.CreateUser(ctx, &kmsv1.CreateUserRequest{UserName: name}); err != nil {
		t.Fatal(err)
	}
	if policy != "" {
		if _, err := admin.PutUserPolicy(ctx, &kmsv1.PutUserPolicyRequest{UserName: name, PolicyName: "p", PolicyDocument: policy}); err != nil {
			t.Fatal(err)
		}
	}
	ak, err := admin.CreateAccessKey(ctx, &kmsv1.CreateAccessKeyRequest{UserName: name})
	if err != nil {
		t.Fatal(err)
	}
	return auth.Credentials{AccessKeyID: ak.GetAccessKey().GetAccessKeyId(), SecretAccessKey: ak.GetAccessKey().GetSecretAccessKey()}
}
