package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/kmsd/kmsd/awsapi"
	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	"github.com/kmsd/kmsd/server"
)

// awsEndpoint starts kmsd's AWS endpoint in process (a cluster of one on
// Badger, authentication and the audit log on) and returns its URL and the
// root's credentials.
func awsEndpoint(t *testing.T) (string, string, string) {
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
	node, err := cluster.New(cluster.Config{NodeID: "n1", BindAddr: "127.0.0.1:0", Dir: filepath.Join(dir, "raft"), Bootstrap: true,
		HeartbeatTimeout: 50 * time.Millisecond, ElectionTimeout: 50 * time.Millisecond, LeaderLeaseTimeout: 50 * time.Millisecond}, store)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	root, _ := envelope.GenerateKey(rand.Reader)
	srv, err := server.New(server.Config{Store: store, Proposer: node, RootKey: root, AuditLog: al, AuditProposer: node, Authenticate: true})
	if err != nil {
		t.Fatal(err)
	}
	h, err := awsapi.New(awsapi.Config{Server: srv})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(func() { hs.Close(); srv.Close(); node.Shutdown(); store.Close() })
	id, secret := server.RootAccessKey(root)
	return hs.URL, id, secret
}

// TestAWSProtocolMode runs every operation through the AWS SDK against
// kmsd's AWS endpoint, with kmsd's AWS endpoint also as the baseline,
// and checks the JSON report: calls made, none failed, results verified.
func TestAWSProtocolMode(t *testing.T) {
	url, id, secret := awsEndpoint(t)
	env := map[string]string{"KMS_ACCESS_KEY_ID": id, "KMS_SECRET_ACCESS_KEY": secret}
	t.Setenv("KMS_ACCESS_KEY_ID", id)
	t.Setenv("KMS_SECRET_ACCESS_KEY", secret)
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"--protocol", "aws", "--endpoint", url, "--baseline-endpoint", url,
		"--concurrency", "1,4", "--duration", "200ms", "--warmup", "50ms", "--json"}, func(k string) string { return env[k] }, &out, &errb)
	if err != nil {
		t.Fatalf("kmsbench --protocol aws: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var doc jsonDocument
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Runs) != 6 {
		t.Fatalf("%d runs, want 6", len(doc.Runs))
	}
	for _, r := range doc.Runs {
		for what, res := range map[string]*jsonResult{"kmsd": r.KMSD, "baseline": r.Baseline} {
			if res == nil || res.Ops == 0 || len(res.Errors) != 0 || res.Wrong != 0 || (r.Op != OpDecrypt && res.Verified == 0) {
				t.Fatalf("%s %s at %d: %+v", what, r.Op, r.Concurrency, res)
			}
		}
		if r.Echo != nil || r.Ratio == nil {
			t.Fatalf("%s at %d: echo %+v ratio %v", r.Op, r.Concurrency, r.Echo, r.Ratio)
		}
	}
	if err := run(context.Background(), []string{"--protocol", "aws", "--endpoint", url, "--echo"}, func(string) string { return "" }, &out, &errb); err == nil {
		t.Fatal("--protocol aws with the gRPC echo ceiling was accepted")
	}
}
