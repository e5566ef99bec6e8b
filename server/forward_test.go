package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
)

func followersOf(t *testing.T, ms []*member) []*member {
	t.Helper()
	l := leaderOf(t, ms)
	var out []*member
	for _, m := range ms {
		if m != l {
			out = append(out, m)
		}
	}
	return out
}

// TestFollowerForwardsMutations: a follower accepts every call: it forwards
// what must go through the log to the leader, and once it answers, reads on
// the same follower see the change (read-your-writes). The audit records of
// the follower's calls are in the one replicated log.
func TestFollowerForwardsMutations(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	ms := newMembers(t, 3, clock)
	ctx := context.Background()
	f := followersOf(t, ms)[0]
	var hdr metadata.MD
	created, err := f.kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "made on a follower"}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	id := created.GetKeyMetadata().GetKeyId()
	start := time.Now()
	for i := range 20 {
		if _, err := f.kms.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
		d, err := f.kms.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
		if err != nil || d.GetKeyMetadata().GetKeyState() != "Disabled" {
			t.Fatalf("round %d: the follower does not see its own write: %v %v", i, d.GetKeyMetadata().GetKeyState(), err)
		}
		if _, err := f.kms.EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("20 disable/describe/enable rounds on a follower: %v", time.Since(start))
	// Domain errors come back as they would on the leader.
	_, err = f.kms.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/x", TargetKeyId: id})
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.kms.CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/x", TargetKeyId: id})
	wantException(t, err, excAlreadyExists)
	enc, err := f.kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: "alias/x", Plaintext: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, ms)
	for _, m := range ms {
		dec, err := m.kms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
		if err != nil || string(dec.GetPlaintext()) != "hello" {
			t.Fatalf("decrypt on %s: %v", m.apiAddr, err)
		}
	}
	// One audit log, the same on every member, holding the follower's
	// CreateKey record.
	if _, err := leaderOf(t, ms).audit.SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, ms)
	var roots []audit.Hash
	for _, m := range ms {
		size, _ := m.srv.audit.Size()
		root, err := m.srv.audit.Root(size)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, root)
	}
	if roots[0] != roots[1] || roots[1] != roots[2] {
		t.Fatal("members hold different audit logs")
	}
	p, err := f.audit.GetInclusionProof(ctx, &kmsv1.GetInclusionProofRequest{EventId: hdr.Get(HeaderEventID)[0]})
	if err != nil {
		t.Fatal(err)
	}
	e, err := audit.ParseEvent(p.GetEvent().GetRecord())
	if err != nil || e.EventName != "CreateKey" || e.ErrorCode != "" {
		t.Fatalf("follower's CreateKey record: %+v %v", e, err)
	}
}

// TestFollowerWaitsForALeader: a member that does not know a leader yet
// (the cluster is starting or electing) waits for one instead of failing
// the call at once; with no quorum at all it answers Unavailable with a
// retry hint, and nothing was changed.
func TestFollowerWaitsForALeader(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	ms := newMembers(t, 3, clock)
	leaderOf(t, ms)
	for _, m := range ms {
		m.stop()
	}
	ctx := context.Background()

	// One member of three: no leader can be elected.
	ms[0].boot()
	_, err := ms[0].kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "no quorum"})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("CreateKey without a quorum: %v, want Unavailable", err)
	}

	// A call made before a leader exists completes once one is elected.
	done := make(chan error, 1)
	var created *kmsv1.CreateKeyResponse
	go func() {
		var err error
		created, err = ms[0].kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "before the election"})
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	ms[1].boot()
	if err := <-done; err != nil {
		t.Fatalf("CreateKey made while the cluster elected: %v", err)
	}
	ms[2].boot()
	waitApplied(t, ms)
	keys, err := ms[2].kms.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.GetKeys()) != 1 || keys.GetKeys()[0].GetKeyId() != created.GetKeyMetadata().GetKeyId() {
		t.Fatalf("keys after the election: %v, want only %s (the call without a quorum changed nothing)", keys.GetKeys(), created.GetKeyMetadata().GetKeyId())
	}
}

// TestFollowerCompletesImport: the leader hands out the import parameters;
// a follower completes the import with them (the wrapping key, stored
// wrapped under the root key, is in every member's state).
func TestFollowerCompletesImport(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	ms := newMembers(t, 3, clock)
	ctx := context.Background()
	l := leaderOf(t, ms)
	f := followersOf(t, ms)[1]
	k, err := l.kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	id := k.GetKeyMetadata().GetKeyId()
	params, err := l.kms.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: id,
		WrappingAlgorithm: envelope.WrapRSAESOAEPSHA256, WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(params.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	material := make([]byte, 32)
	rand.Read(material)
	wrapped, err := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), envelope.WrapRSAESOAEPSHA256, material)
	if err != nil {
		t.Fatal(err)
	}
	waitApplied(t, ms)
	_, err = f.kms.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: id, ImportToken: params.GetImportToken(),
		EncryptedKeyMaterial: wrapped, ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := f.kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("byok")})
	if err != nil {
		t.Fatalf("encrypt on the follower right after its import: %v", err)
	}
	want, _ := envelope.KeyFromBytes(material)
	if pt, err := envelope.Open(want, enc.GetCiphertextBlob(), nil); err != nil || !bytes.Equal(pt, []byte("byok")) {
		t.Fatal("the follower did not encrypt with the imported material")
	}
}

// TestForwardRequiresTheClusterKey: a forwarded command that is not
// authenticated with the cluster's key, is stale, or is replayed changes
// nothing.
func TestForwardRequiresTheClusterKey(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	ms := newMembers(t, 3, clock)
	ctx := context.Background()
	l := leaderOf(t, ms)
	conn, err := grpc.NewClient(l.apiAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fwd := clusterv1.NewForwardServiceClient(conn)
	cmd, _ := proto.Marshal(&clusterv1.Command{Type: clusterv1.CommandType_COMMAND_TYPE_AUDIT_RECORDS,
		Payload: mustProto(t, &clusterv1.AuditBatch{Records: [][]byte{[]byte(`{"forged":true}`)}, EventIds: []string{"forged"}})})
	otherRoot, _ := envelope.GenerateKey(rand.Reader)
	wrongKey, _ := NewForwardAuth(otherRoot)
	nonce := bytes.Repeat([]byte{7}, 16)
	ts := time.Now().UnixMilli()
	to, _ := l.node.Leader()
	before := l.store.LogSize()
	for name, req := range map[string]*clusterv1.ForwardRequest{
		"no MAC":    {Command: cmd, FromNode: "n9", ToNode: to, TimestampMs: ts, Nonce: nonce},
		"wrong key": {Command: cmd, FromNode: "n9", ToNode: to, TimestampMs: ts, Nonce: nonce, Mac: wrongKey.MAC(forwardMsg("n9", to, ts, nonce, cmd))},
	} {
		_, err := fwd.Apply(ctx, req)
		if status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A correctly authenticated request is accepted once; its replay and
	// a stale one are refused.
	auth, _ := NewForwardAuth(l.root)
	// Meant for another node: refused even with the right key.
	elsewhere := &clusterv1.ForwardRequest{Command: cmd, FromNode: "n9", ToNode: "n8", TimestampMs: ts, Nonce: bytes.Repeat([]byte{9}, 16)}
	elsewhere.Mac = auth.MAC(forwardMsg("n9", "n8", ts, elsewhere.Nonce, cmd))
	if _, err := fwd.Apply(ctx, elsewhere); status.Code(err) != codes.PermissionDenied {
		t.Errorf("request for another node: %v", err)
	}
	good := &clusterv1.ForwardRequest{Command: cmd, FromNode: "n9", ToNode: to, TimestampMs: ts, Nonce: nonce, Mac: auth.MAC(forwardMsg("n9", to, ts, nonce, cmd))}
	resp, err := fwd.Apply(ctx, good)
	if err != nil || len(resp.GetMac()) == 0 {
		t.Fatalf("authenticated request: %v, answer MAC %x", err, resp.GetMac())
	}
	if _, err := fwd.Apply(ctx, good); status.Code(err) != codes.PermissionDenied {
		t.Errorf("replay: %v", err)
	}
	old := time.Now().Add(-time.Hour).UnixMilli()
	stale := &clusterv1.ForwardRequest{Command: cmd, FromNode: "n9", ToNode: to, TimestampMs: old, Nonce: bytes.Repeat([]byte{8}, 16)}
	stale.Mac = auth.MAC(forwardMsg("n9", to, old, stale.Nonce, cmd))
	if _, err := fwd.Apply(ctx, stale); status.Code(err) != codes.PermissionDenied {
		t.Errorf("stale: %v", err)
	}
	// A forwarded audit batch is answered once committed; the leader
	// writes it to its store right after.
	if err := l.node.AuditBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if got := l.store.LogSize(); got != before+1 {
		t.Fatalf("audit log went from %d to %d records; want exactly the one authenticated command's", before, got)
	}
	if _, ok, _ := l.store.LogPosition("forged"); !ok {
		t.Fatal("the authenticated command was not applied")
	}
}

func mustProto(t *testing.T, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// forwardMsg is the authenticated text of a forwarded command, as the
// cluster package documents it.
func forwardMsg(from, to string, ts int64, nonce, cmd []byte) []byte {
	b := []byte("kmsd forward v1")
	for _, s := range []string{from, to} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = append(b, nonce...)
	return append(b, cmd...)
}

// TestAuditReadsSeeOwnRecordsOnEveryMember: a member that answered a call
// finds the call's audit record at once, whether it leads (the record is
// acknowledged once committed, before the leader has written it) or
// follows (it forwarded the record, and the leader answered once it was
// committed).
func TestAuditReadsSeeOwnRecordsOnEveryMember(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	ms := newMembers(t, 3, clock)
	ctx := context.Background()
	l := leaderOf(t, ms)
	k, err := l.kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	followers := 0
	for _, m := range ms {
		if !m.node.IsLeader() {
			followers++
		}
		for i := range 20 {
			var hdr metadata.MD
			_, err := m.kms.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: k.GetKeyMetadata().GetKeyId(), NumberOfBytes: 32}, grpc.Header(&hdr))
			if err != nil {
				t.Fatal(err)
			}
			id := hdr.Get(HeaderEventID)
			if len(id) != 1 {
				t.Fatalf("no event id in %v", hdr)
			}
			resp, err := m.audit.LookupEvents(ctx, &kmsv1.LookupEventsRequest{EventId: id[0]})
			if err != nil || len(resp.GetEvents()) != 1 {
				t.Fatalf("member %s, call %d: its own record %s not found right after the call: %v, %d events",
					m.apiAddr, i, id[0], err, len(resp.GetEvents()))
			}
		}
	}
	if followers != 2 {
		t.Fatalf("%d followers", followers)
	}
}
