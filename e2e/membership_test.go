package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestWipedMemberCatchesUpFromASnapshot: with snapshots every 64 entries
// and 16 kept after each, a member whose data directory is wiped comes
// back, receives the leader's snapshot (the log it would need is gone), and
// holds the same keys and audit log as the others (R10 with real
// processes, the "disk wiped" case of issue 5).
func TestWipedMemberCatchesUpFromASnapshot(t *testing.T) {
	ds := startClusterWith(t, t.TempDir(), 3, func(*daemon, string) []string {
		return []string{"--snapshot-threshold", "64", "--snapshot-interval", "1s", "--trailing-logs", "16"}
	})
	leader := leaderOf(t, ds)
	victim := without(ds, leader)[0]
	ctx := context.Background()
	var ids []string
	for i := range 150 {
		k, err := ds[i%3].client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: fmt.Sprintf("key %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.GetKeyMetadata().GetKeyId())
	}
	checkInvariants(t, ds)
	// A signed tree head over the records so far, which the snapshot will
	// carry.
	if r := leader.ctl(nil, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify on the leader: %d %s %s", r.code, r.stdout, r.stderr)
	}

	victim.kill()
	if err := os.RemoveAll(victim.dataDir); err != nil {
		t.Fatal(err)
	}
	// More entries while it is away, so that the log it would need has
	// been compacted on the others.
	survivor := without(ds, victim)[0]
	for i := range 150 {
		k, err := survivor.client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: fmt.Sprintf("while wiped %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, k.GetKeyMetadata().GetKeyId())
	}
	time.Sleep(1500 * time.Millisecond) // a snapshot interval: the others compact
	victim.launch()
	if err := victim.waitReady(30 * time.Second); err != nil {
		t.Fatalf("the wiped member did not come back: %v\n%s", err, victim.log)
	}
	waitFor(t, "the wiped member to hold every key", func() bool {
		_, err := victim.client().DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: ids[len(ids)-1]})
		return err == nil
	})
	waitFor(t, "the wiped member to say it installed the leader's snapshot", func() bool {
		return strings.Contains(victim.log.String(), "Installed remote snapshot")
	})
	for _, id := range ids {
		if _, err := victim.client().DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
			t.Fatalf("key %s missing on the wiped member: %v", id, err)
		}
	}
	checkInvariants(t, ds)
	// The audit log it received verifies on its own.
	r := victim.ctl(nil, "audit", "verify")
	if r.code != 0 {
		t.Fatalf("audit verify on the wiped member: %d %s %s", r.code, r.stdout, r.stderr)
	}
	t.Logf("audit verify on the wiped member: %s", strings.Join(strings.Fields(r.stdout+r.stderr), " "))
}

// TestNonVoter: a node that joins with --non-voter replicates the log and
// serves calls, but is not counted in the quorum: with two of three voters
// down the cluster commits nothing, even though three processes run.
// Restarted without --non-voter it is promoted to a voter.
func TestNonVoter(t *testing.T) {
	base := t.TempDir()
	ds := startClusterWith(t, base, 3, nil)
	rootKey := filepath.Join(base, "root.key")
	nv := &daemon{t: t, dataDir: filepath.Join(base, "nv"), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
	nv.args = []string{"--node-id", "nv", "--data-dir", nv.dataDir, "--root-key-file", rootKey, "--grpc-addr", nv.grpcAddr,
		"--http-addr", nv.httpAddr, "--raft-addr", freeAddr(t), "--raft-timeout", "300ms", "--join", ds[0].grpcAddr}
	nv.args = append(nv.args, "--non-voter")
	nv.start()
	suffrage := func(id string) string {
		st := ds[0].ok("cluster", "status")
		for _, m := range field(st, "Members").([]any) {
			if m := m.(map[string]any); m["NodeId"] == id {
				return fmt.Sprint(m["Suffrage"])
			}
		}
		return ""
	}
	waitFor(t, "the non-voter in the configuration", func() bool { return suffrage("nv") == "Nonvoter" })

	ctx := context.Background()
	k, err := nv.client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "through the non-voter"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nv.client().DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: k.GetKeyMetadata().GetKeyId()}); err != nil {
		t.Fatalf("the non-voter does not read its own write: %v", err)
	}

	// Two of three voters down: no quorum, whatever the non-voter does.
	leader := leaderOf(t, ds)
	others := without(ds, leader)
	others[0].kill()
	others[1].kill()
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err = nv.client().CreateKey(short, &kmsv1.CreateKeyRequest{Description: "without a quorum"})
	cancel()
	if err == nil {
		t.Fatal("a mutation was acknowledged with one voter of three")
	}
	// Crypto calls keep working on the non-voter from its own state.
	if _, err := nv.client().Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: k.GetKeyMetadata().GetKeyId(), Plaintext: []byte("x")}); err == nil {
		// Encrypt needs its audit record committed: with no quorum it
		// must fail closed, not answer.
		t.Fatal("an Encrypt was answered without a durable audit record")
	}
	for _, d := range others {
		d.launch()
		if err := d.waitReady(30 * time.Second); err != nil {
			t.Fatalf("voter did not come back: %v\n%s", err, d.log)
		}
	}

	// Promotion: the same node, restarted without --non-voter.
	nv.stop()
	nv.args = nv.args[:len(nv.args)-1]
	nv.start()
	waitFor(t, "the node promoted to a voter", func() bool { return suffrage("nv") == "Voter" })
	checkInvariants(t, append(ds, nv))
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// TestClusterJoinCommand: nodes started with --bootstrap=false wait, not
// serving, until an operator adds them with "kmsctl cluster join"; then they
// catch up and serve, as a voter or a non-voter.
func TestClusterJoinCommand(t *testing.T) {
	base := t.TempDir()
	ds := startClusterWith(t, base, 1, nil)
	a := ds[0]
	k := str(a.ok("create-key", "--description", "before the join"), "KeyMetadata.KeyId")
	rootKey := filepath.Join(base, "root.key")
	waiting := func(id string) (*daemon, string) {
		d := &daemon{t: t, dataDir: filepath.Join(base, id), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
		raftAddr := freeAddr(t)
		d.args = []string{"--node-id", id, "--data-dir", d.dataDir, "--root-key-file", rootKey, "--grpc-addr", d.grpcAddr,
			"--http-addr", d.httpAddr, "--raft-addr", raftAddr, "--raft-timeout", "300ms", "--bootstrap=false"}
		d.launch()
		return d, raftAddr
	}
	b, bRaft := waiting("b")
	c, cRaft := waiting("c")
	if err := b.waitReady(time.Second); err == nil {
		t.Fatal("a node started with --bootstrap=false is ready before it was added")
	}
	a.fails("ValidationException", "cluster", "join", "--node-id", "b", "--raft-address", "nowhere", "--api-address", b.grpcAddr)
	if r := a.ctl(nil, "cluster", "join", "--node-id", "b", "--raft-address", bRaft, "--api-address", b.grpcAddr); r.code != 0 {
		t.Fatalf("cluster join b: %d %s", r.code, r.stderr)
	}
	if r := b.ctl(nil, "cluster", "join", "--node-id", "c", "--raft-address", cRaft, "--api-address", c.grpcAddr, "--non-voter"); r.code != 0 {
		t.Fatalf("cluster join c through b: %d %s", r.code, r.stderr)
	}
	for _, d := range []*daemon{b, c} {
		if err := d.waitReady(30 * time.Second); err != nil {
			t.Fatalf("added node not ready: %v\n%s", err, d.log)
		}
		waitFor(t, "the key on the added node", func() bool {
			_, err := d.client().DescribeKey(context.Background(), &kmsv1.DescribeKeyRequest{KeyId: k})
			return err == nil
		})
	}
	st := a.ok("cluster", "status")
	got := map[string]string{}
	for _, m := range field(st, "Members").([]any) {
		m := m.(map[string]any)
		got[fmt.Sprint(m["NodeId"])] = fmt.Sprint(m["Suffrage"])
	}
	if got["n0"] != "Voter" || got["b"] != "Voter" || got["c"] != "Nonvoter" || len(got) != 3 {
		t.Fatalf("members after the joins: %v", got)
	}
	checkInvariants(t, []*daemon{a, b, c})
}
