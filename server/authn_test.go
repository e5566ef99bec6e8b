package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kmsd/kmsd/auth"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// authServer is a server that requires signed calls, with its root
// credentials.
type authServer struct {
	store *keystore.Store
	prop  *directProposer
	addr  string
	root  auth.Credentials
	clock *fakeClock
	g     *grpc.Server
	srv   *Server
}

func newAuthServer(t testing.TB, configure ...func(*Config)) *authServer {
	t.Helper()
	store, err := keystore.Open(t.TempDir(), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rootKey, _ := envelope.GenerateKey(rand.Reader)
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	al, err := OpenAuditLog(store)
	if err != nil {
		t.Fatal(err)
	}
	prop := &directProposer{store: store}
	cfg := Config{Store: store, Proposer: prop, RootKey: rootKey, Now: clock.Now, AuditLog: al, AuditProposer: prop,
		Authenticate: true}
	for _, f := range configure {
		f(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	healthpb.RegisterHealthServer(g, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(lis)
	t.Cleanup(func() { g.Stop(); srv.Close() })
	id, secret := RootAccessKey(rootKey)
	return &authServer{store: store, prop: prop, addr: lis.Addr().String(), root: auth.Credentials{AccessKeyID: id, SecretAccessKey: secret}, clock: clock, g: g, srv: srv}
}

// conn dials the server with the given interceptors (none: unsigned).
func (a *authServer) conn(t testing.TB, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	c, err := grpc.NewClient(a.addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func (a *authServer) signed(t testing.TB, creds auth.Credentials, now func() time.Time) *grpc.ClientConn {
	s := &auth.Signer{Creds: creds, Now: now}
	return a.conn(t, grpc.WithChainUnaryInterceptor(s.UnaryInterceptor), grpc.WithChainStreamInterceptor(s.StreamInterceptor))
}

// TestAuthentication: only calls signed with a valid access key, for the
// method and message sent, within 5 minutes, are served; every refusal is
// an UnauthenticatedException that says nothing about the access key, and
// is on record with the access key id it claimed.
func TestAuthentication(t *testing.T) {
	a := newAuthServer(t)
	ctx := context.Background()
	good := kmsv1.NewKeyManagementServiceClient(a.signed(t, a.root, a.clock.Now))
	k, err := good.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "signed"})
	if err != nil {
		t.Fatalf("a signed call: %v", err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()

	// Signs one message and sends another.
	swap := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		s := &auth.Signer{Creds: a.root, Now: a.clock.Now}
		ctx, _ = s.Sign(ctx, method, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("what was signed")})
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	// Signs for another method.
	otherMethod := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		s := &auth.Signer{Creds: a.root, Now: a.clock.Now}
		ctx, _ = s.Sign(ctx, "/kms.v1.KeyManagementService/Decrypt", req)
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	wrongSecret := a.root
	wrongSecret.SecretAccessKey += "x"
	unknownKey := a.root
	unknownKey.AccessKeyID = "AKIAUNKNOWNUNKNOWN00"
	withToken := a.root
	withToken.SessionToken = "not a session"
	cases := []struct {
		name    string
		conn    *grpc.ClientConn
		claimed string
	}{
		{"unsigned", a.conn(t), ""},
		{"wrong secret", a.signed(t, wrongSecret, a.clock.Now), a.root.AccessKeyID},
		{"unknown access key", a.signed(t, unknownKey, a.clock.Now), unknownKey.AccessKeyID},
		{"signed 6 minutes ago", a.signed(t, a.root, func() time.Time { return a.clock.Now().Add(-6 * time.Minute) }), a.root.AccessKeyID},
		{"signed 6 minutes ahead", a.signed(t, a.root, func() time.Time { return a.clock.Now().Add(6 * time.Minute) }), a.root.AccessKeyID},
		{"another message signed", a.conn(t, grpc.WithUnaryInterceptor(swap)), a.root.AccessKeyID},
		{"another method signed", a.conn(t, grpc.WithUnaryInterceptor(otherMethod)), a.root.AccessKeyID},
		{"a session token with a long-term key", a.signed(t, withToken, a.clock.Now), a.root.AccessKeyID},
	}
	messages := map[string]bool{}
	for _, c := range cases {
		_, err := kmsv1.NewKeyManagementServiceClient(c.conn).Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("secret")})
		if status.Code(err) != codes.Unauthenticated || ExceptionName(err) != excUnauthenticated {
			t.Errorf("%s: %v, want UnauthenticatedException", c.name, err)
			continue
		}
		if c.name == "wrong secret" || c.name == "unknown access key" {
			messages[status.Convert(err).Message()] = true
		}
		if strings.Contains(status.Convert(err).Message(), keyID) {
			t.Errorf("%s: the refusal names the key: %v", c.name, err)
		}
	}
	if len(messages) != 1 {
		t.Errorf("a wrong secret and an unknown access key are told apart: %v", messages)
	}

	// The log holds the signed calls as the root's and the refusals with
	// the access key they claimed.
	events, err := kmsv1.NewAuditServiceClient(a.signed(t, a.root, a.clock.Now)).GetEvents(ctx, &kmsv1.GetEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var refused []map[string]any
	for _, e := range events.GetEvents() {
		var rec map[string]any
		if err := json.Unmarshal(e.GetRecord(), &rec); err != nil {
			t.Fatal(err)
		}
		uid, _ := rec["userIdentity"].(map[string]any)
		switch rec["eventName"] {
		case "CreateKey":
			if uid["type"] != "Root" || uid["accessKeyId"] != a.root.AccessKeyID {
				t.Errorf("CreateKey on record as %v", uid)
			}
		case "Encrypt":
			if rec["errorCode"] != excUnauthenticated {
				t.Errorf("a refused Encrypt on record with error %v", rec["errorCode"])
			}
			refused = append(refused, uid)
		}
	}
	if len(refused) != len(cases) {
		t.Fatalf("%d refusals on record, want %d", len(refused), len(cases))
	}
	for i, c := range cases {
		if got, _ := refused[i]["accessKeyId"].(string); got != c.claimed {
			t.Errorf("%s: on record with access key %q, want %q", c.name, got, c.claimed)
		}
	}
}

// TestUnauthenticatedSurface (S7): every method of every service the API
// port serves answers an unsigned call with UnauthenticatedException,
// except the health service.
func TestUnauthenticatedSurface(t *testing.T) {
	a := newAuthServer(t)
	conn := a.conn(t)
	ctx := context.Background()
	n := 0
	for svc, info := range a.g.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + svc + "/" + m.Name
			var err error
			if m.IsServerStream || m.IsClientStream {
				var st grpc.ClientStream
				st, err = conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: m.IsServerStream, ClientStreams: m.IsClientStream}, method)
				if err == nil {
					st.SendMsg(&emptypb.Empty{})
					st.CloseSend()
					err = st.RecvMsg(&emptypb.Empty{})
				}
			} else {
				err = conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
			}
			n++
			if strings.HasPrefix(svc, "grpc.health.") {
				if status.Code(err) == codes.Unauthenticated {
					t.Errorf("%s: the health service refuses an unsigned call", method)
				}
				continue
			}
			if status.Code(err) != codes.Unauthenticated {
				t.Errorf("%s answered an unsigned call: %v", method, err)
			}
		}
	}
	t.Logf("%d methods called without credentials", n)
	if n < 40 {
		t.Fatalf("only %d methods found", n)
	}
}

// TestSignedStream: a stream needs a signature too.
func TestSignedStream(t *testing.T) {
	a := newAuthServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := kmsv1.NewAuditServiceClient(a.conn(t)).TailEvents(ctx, &kmsv1.TailEventsRequest{})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("unsigned TailEvents: %v", err)
	}
	st, err = kmsv1.NewAuditServiceClient(a.signed(t, a.root, a.clock.Now)).TailEvents(ctx, &kmsv1.TailEventsRequest{StartIndex: 0})
	if err != nil {
		t.Fatal(err)
	}
	e, err := st.Recv()
	if err != nil {
		t.Fatalf("signed TailEvents: %v", err)
	}
	if !strings.Contains(string(e.GetRecord()), "TailEvents") && !strings.Contains(string(e.GetRecord()), "UnauthenticatedException") {
		t.Fatalf("first record: %s", e.GetRecord())
	}
}
