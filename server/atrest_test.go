package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// clusterHarness is a Server on a real single-node Raft cluster over TCP
// on 127.0.0.1, with Badger for the log and the state.
type clusterHarness struct {
	harness
	node     *cluster.Node
	dir      string
	shutdown func()
}

func newClusterHarness(t testing.TB) *clusterHarness {
	t.Helper()
	return newClusterHarnessAudit(t, true)
}

// newClusterHarnessAudit starts a one-node cluster harness, with or without
// the audit log.
func newClusterHarnessAudit(t testing.TB, audited bool) *clusterHarness {
	t.Helper()
	dir := t.TempDir()
	store, err := keystore.Open(filepath.Join(dir, "state"), keystore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	al, err := OpenAuditLog(store)
	if err != nil {
		t.Fatal(err)
	}
	node, err := cluster.New(cluster.Config{
		NodeID: "n1", BindAddr: "127.0.0.1:0", Dir: filepath.Join(dir, "raft"), Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond,
		LeaderLeaseTimeout: 50 * time.Millisecond, SnapshotThreshold: 100, TrailingLogs: 10,
	}, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	root, _ := envelope.GenerateKey(rand.Reader)
	srv, err := New(Config{Store: store, Proposer: node, RootKey: root, AuditLog: al, AuditProposer: node, DisableAudit: !audited})
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(g)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go g.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	shutdown := func() {
		once.Do(func() {
			conn.Close()
			g.Stop()
			srv.Close()
			node.Shutdown()
			store.Close()
		})
	}
	t.Cleanup(shutdown)
	return &clusterHarness{
		harness: harness{srv: srv, store: store, client: kmsv1.NewKeyManagementServiceClient(conn),
			audit: kmsv1.NewAuditServiceClient(conn)},
		node: node, dir: dir, shutdown: shutdown,
	}
}

// TestNoPlaintextKeyMaterialAtRest creates keys and data keys through a
// real Raft cluster of one, takes snapshots, and scans every file the
// node wrote (Raft log, stable store, snapshots, key state) for each key's
// material and each data key, raw, in hex and in base64 (K5, L3).
func TestNoPlaintextKeyMaterialAtRest(t *testing.T) {
	h := newClusterHarness(t)
	ctx := context.Background()
	nKeys, nDataKeys := 1000, 10_000
	if testing.Short() {
		nKeys, nDataKeys = 100, 1000
	}
	secrets := map[string]bool{}
	var keys []*keystore.Key
	const canary = "description-canary-5f3a"
	for range nKeys {
		resp, err := h.client.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: canary})
		if err != nil {
			t.Fatal(err)
		}
		k, err := h.store.Key(resp.GetKeyMetadata().GetKeyId())
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
		v, _ := k.Current()
		m, err := h.srv.materials.get(k, v)
		if err != nil {
			t.Fatal(err)
		}
		secrets[string(m.key.Bytes())] = true
	}
	for i := range nDataKeys {
		resp, err := h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keys[i%len(keys)].ID, KeySpec: "AES_256"})
		if err != nil {
			t.Fatal(err)
		}
		secrets[string(resp.GetPlaintext())] = true
	}
	if err := h.node.Snapshot(); err != nil {
		t.Fatal(err)
	}
	h.shutdown()

	forms := map[string]bool{}
	for s := range secrets {
		forms[s] = true
		forms[hex.EncodeToString([]byte(s))] = true
		forms[base64.StdEncoding.EncodeToString([]byte(s))] = true
		forms[base64.RawURLEncoding.EncodeToString([]byte(s))] = true
	}
	scanned, hits, canaries := scanDir(t, h.dir, forms, canary)
	if canaries == 0 {
		t.Fatalf("the scan of %d bytes did not find the stored description; it cannot see what is stored", scanned)
	}
	if hits != 0 {
		t.Fatalf("%d secrets found in plain form at rest", hits)
	}
	t.Logf("scanned %d bytes for %d secrets in 4 forms: 0 found (%d description canaries seen)", scanned, len(secrets), canaries)
}

// scanDir looks for every string of forms in every file under dir by
// sliding a window of each form length over the bytes.
func scanDir(t *testing.T, dir string, forms map[string]bool, canary string) (scanned, hits, canaries int) {
	t.Helper()
	lengths := map[int]bool{}
	for f := range forms {
		lengths[len(f)] = true
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		scanned += len(b)
		for n := range lengths {
			for i := 0; i+n <= len(b); i++ {
				if forms[string(b[i:i+n])] {
					hits++
					t.Errorf("secret (%d bytes) found in %s at offset %d", n, path, i)
				}
			}
		}
		for i := 0; i+len(canary) <= len(b); i++ {
			if string(b[i:i+len(canary)]) == canary {
				canaries++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return scanned, hits, canaries
}

// TestWrappedMaterialIsBoundToItsKey copies one key's wrapped material onto
// another key's record and onto another version: neither unwraps (K6).
func TestWrappedMaterialIsBoundToItsKey(t *testing.T) {
	h := newHarness(t)
	a, _ := h.store.Key(h.createKey(t).GetKeyId())
	b, _ := h.store.Key(h.createKey(t).GetKeyId())
	va, _ := a.Current()
	vb, _ := b.Current()
	if _, err := unwrapVersion(h.srv.rootKey, a.ID, va); err != nil {
		t.Fatalf("own material does not unwrap: %v", err)
	}
	pasted := keystore.Version{MaterialID: vb.MaterialID, Wrapped: va.Wrapped}
	if _, err := unwrapVersion(h.srv.rootKey, b.ID, pasted); err != errCorruptMaterial {
		t.Fatalf("A's wrapped material unwrapped as B's: %v", err)
	}
	if _, err := unwrapVersion(h.srv.rootKey, b.ID, va); err != errCorruptMaterial {
		t.Fatalf("A's version unwrapped under B's key id: %v", err)
	}
	if _, err := unwrapVersion(h.srv.rootKey, a.ID, keystore.Version{MaterialID: vb.MaterialID, Wrapped: va.Wrapped}); err != errCorruptMaterial {
		t.Fatalf("A's material unwrapped under another material id: %v", err)
	}
}
