package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Starting a cluster of kmsd processes, and checking it.

// startCluster starts n kmsd processes that form one cluster (--peers),
// sharing a root key made by kmsd init, and waits until each has a leader.
func startCluster(t *testing.T, n int) []*daemon {
	t.Helper()
	return startClusterTB(t, n)
}

func startClusterTB(t testing.TB, n int) []*daemon {
	t.Helper()
	return startClusterWith(t, t.TempDir(), n, nil)
}

// startClusterWith starts n members with their data under base; extra, if
// set, adds each member's own flags.
func startClusterWith(t testing.TB, base string, n int, extra func(d *daemon, id string) []string) []*daemon {
	t.Helper()
	rootKey := filepath.Join(base, "root.key")
	if out, code := runKmsd(t, "init", "--root-key-file", rootKey); code != 0 {
		t.Fatalf("kmsd init: %d %s", code, out)
	}
	out, code := runKmsd(t, "root-credentials", "--root-key-file", rootKey)
	if code != 0 {
		t.Fatalf("kmsd root-credentials: %d %s", code, out)
	}
	access := parseCredentialLines(t, out)
	var ds []*daemon
	var peers []string
	for i := range n {
		d := &daemon{t: t, dataDir: filepath.Join(base, fmt.Sprintf("n%d", i)), grpcAddr: freeAddr(t), httpAddr: freeAddr(t), access: &access}
		raftAddr := freeAddr(t)
		d.args = []string{"--node-id", fmt.Sprintf("n%d", i), "--data-dir", d.dataDir, "--root-key-file", rootKey,
			"--grpc-addr", d.grpcAddr, "--http-addr", d.httpAddr, "--raft-addr", raftAddr, "--raft-timeout", "300ms"}
		if extra != nil {
			d.args = append(d.args, extra(d, fmt.Sprintf("n%d", i))...)
		}
		peers = append(peers, fmt.Sprintf("n%d=%s/%s", i, raftAddr, d.grpcAddr))
		ds = append(ds, d)
	}
	for _, d := range ds {
		d.args = append(d.args, "--peers", strings.Join(peers, ","))
		d.launch()
	}
	for _, d := range ds {
		if err := d.waitReady(30 * time.Second); err != nil {
			t.Fatalf("member did not become ready: %v\n%s", err, d.log)
		}
	}
	return ds
}

// leaderOf asks a member's /readyz who leads.
func leaderOf(t *testing.T, ds []*daemon) *daemon {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range ds {
			resp, err := http.Get("http://" + d.httpAddr + "/readyz")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			id, ok := strings.CutPrefix(strings.TrimSpace(string(body)), "ready; leader ")
			if !ok {
				continue
			}
			for _, l := range ds {
				if strings.Contains(strings.Join(l.args, " "), "--node-id "+id+" ") {
					return l
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no leader")
	return nil
}

func without(ds []*daemon, x *daemon) []*daemon {
	var out []*daemon
	for _, d := range ds {
		if d != x {
			out = append(out, d)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkInvariants is the cluster tests' invariant checker: once the
// members have applied the same log index they must hold identical state
// (the same state digest), and members whose audit logs have the same
// size must have the same Merkle root. It waits for a moment when all
// members agree on the index, then compares.
func checkInvariants(t *testing.T, ds []*daemon) {
	t.Helper()
	ctx := context.Background()
	var clients []kmsv1.ClusterServiceClient
	for _, d := range ds {
		clients = append(clients, kmsv1.NewClusterServiceClient(d.grpcConn()))
	}
	deadline := time.Now().Add(20 * time.Second)
	checkedAudit := false
	for {
		var sts []*kmsv1.GetClusterStatusResponse
		for _, c := range clients {
			st, err := c.GetClusterStatus(ctx, &kmsv1.GetClusterStatusRequest{})
			if status.Code(err) == codes.Unavailable && time.Now().Before(deadline) {
				break // a member just restarted: ask all again (clients retry Unavailable)
			}
			if err != nil {
				t.Fatal(err)
			}
			sts = append(sts, st)
		}
		if len(sts) < len(clients) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		sameIndex, sameAudit := true, true
		for _, st := range sts[1:] {
			sameIndex = sameIndex && st.GetAppliedIndex() == sts[0].GetAppliedIndex()
			sameAudit = sameAudit && st.GetAuditSize() == sts[0].GetAuditSize()
		}
		if sameAudit {
			for i, st := range sts[1:] {
				if !bytes.Equal(st.GetAuditRoot(), sts[0].GetAuditRoot()) {
					t.Fatalf("members %s and %s hold different audit logs of %d records", sts[0].GetNodeId(), sts[i+1].GetNodeId(), st.GetAuditSize())
				}
			}
			checkedAudit = true
		}
		if sameIndex {
			for i, st := range sts[1:] {
				if !bytes.Equal(st.GetStateDigest(), sts[0].GetStateDigest()) {
					t.Fatalf("members %s and %s differ at index %d", sts[0].GetNodeId(), sts[i+1].GetNodeId(), st.GetAppliedIndex())
				}
			}
			if checkedAudit {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("members never agreed on an index to compare (audit compared: %v)", checkedAudit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
