package e2e

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestThreeNodeCluster runs three real kmsd processes: any member accepts
// any call (mutations are forwarded to the leader); the leader is killed
// with SIGKILL while mutations stream through the others; a new leader
// takes over, no acknowledged key is lost, crypto calls keep working, and
// the killed member comes back and converges, audit log included.
func TestThreeNodeCluster(t *testing.T) {
	// kmsd's default raft timeout, for the failover time of R3 and the
	// issue's "first acknowledged mutation within 3 s of the kill".
	ds := startClusterWith(t, t.TempDir(), 3, func(*daemon, string) []string { return []string{"--raft-timeout", "500ms"} })
	ctx := context.Background()
	leader := leaderOf(t, ds)
	follower := without(ds, leader)[0]
	fc := follower.client()
	k, err := fc.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "made on a follower"})
	if err != nil {
		t.Fatal(err)
	}
	id := k.GetKeyMetadata().GetKeyId()
	// The follower reads its own write at once, and so does every other
	// member: a disable acknowledged by one is seen by all.
	for _, d := range ds {
		if _, err := d.client().DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		if _, err := ds[i%3].client().DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if _, err := d.client().Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")}); err == nil {
				t.Fatalf("round %d: %s encrypted with a key whose DisableKey was acknowledged", i, d.grpcAddr)
			}
		}
		if _, err := ds[(i+1)%3].client().EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: id}); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := fc.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("replicated")})
	if err != nil {
		t.Fatal(err)
	}

	// A stream of CreateKey calls through the two followers while the
	// leader is killed.
	survivors := without(ds, leader)
	var mu sync.Mutex
	var acked []string
	var ackTimes, startTimes []time.Time
	failures := 0
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, d := range survivors {
		c := d.client()
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				start := time.Now()
				r, err := c.CreateKey(cctx, &kmsv1.CreateKeyRequest{Description: "stream"})
				cancel()
				mu.Lock()
				if err != nil {
					failures++
				} else {
					acked = append(acked, r.GetKeyMetadata().GetKeyId())
					ackTimes, startTimes = append(ackTimes, time.Now()), append(startTimes, start)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	killedAt := time.Now()
	leader.kill()
	goneAt := time.Now() // the process has exited
	next := leaderOf(t, survivors)
	elected := time.Since(killedAt)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	// The first mutation acknowledged of those made once the killed
	// leader's process had exited, so that the new leader committed it,
	// measured from the kill. Calls made before may have been committed
	// by the old leader and do not count.
	var firstAfter time.Duration = -1
	for i, at := range ackTimes {
		if startTimes[i].After(goneAt) && (firstAfter < 0 || at.Sub(killedAt) < firstAfter) {
			firstAfter = at.Sub(killedAt)
		}
	}
	t.Logf("new leader after %v; first mutation made after the kill acknowledged %v after it; %d keys acknowledged, %d calls failed during the failover",
		elected, firstAfter, len(acked), failures)
	if firstAfter < 0 || firstAfter > 3*time.Second {
		t.Errorf("failover too slow: leader after %v, first mutation made after the kill acknowledged after %v (want within 3 s)", elected, firstAfter)
	}
	// Crypto keeps working on the survivors.
	for _, d := range survivors {
		dec, err := d.client().Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
		if err != nil || !bytes.Equal(dec.GetPlaintext(), []byte("replicated")) {
			t.Fatalf("decrypt on a survivor: %v", err)
		}
	}
	// kmsctl cluster status, asked of a survivor, shows the new leader and
	// the killed member as unreachable.
	st := survivors[1].ok("cluster", "status")
	if str(st, "LeaderId") == "" || !strings.Contains(fmt.Sprint(st["Members"]), "Error") {
		t.Errorf("cluster status with a member down: %v", st)
	}
	// The killed member restarts and converges: every acknowledged key is
	// there, on every member.
	leader.start()
	for _, d := range ds {
		c := d.client()
		waitFor(t, "every acknowledged key on "+d.grpcAddr, func() bool {
			for _, id := range acked {
				if _, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
					return false
				}
			}
			return true
		})
	}
	if len(acked) < 10 {
		t.Fatalf("only %d keys acknowledged", len(acked))
	}
	st = leader.ok("cluster", "status")
	members, _ := st["Members"].([]any)
	leaders := 0
	for _, m := range members {
		m := m.(map[string]any)
		if m["Leader"] == true {
			leaders++
		}
		if m["State"] == nil || m["Lag"] == nil || m["Error"] != nil {
			t.Errorf("member after convergence: %v", m)
		}
	}
	if len(members) != 3 || leaders != 1 {
		t.Errorf("cluster status: %d members, %d leaders: %v", len(members), leaders, st)
	}
	// One audit log: sign a head on the leader, then every member holds
	// the same records up to it.
	if _, err := next.auditClient().SignTreeHead(ctx, &kmsv1.SignTreeHeadRequest{}); err != nil {
		t.Fatal(err)
	}
	var logs [][]string
	for _, d := range ds {
		waitFor(t, "the audit log on "+d.grpcAddr, func() bool {
			h, err := d.auditClient().GetSignedTreeHeads(ctx, &kmsv1.GetSignedTreeHeadsRequest{})
			return err == nil && len(h.GetHeads()) > 0 && h.GetHeads()[len(h.GetHeads())-1].GetTreeSize() > 0
		})
	}
	heads, err := next.auditClient().GetSignedTreeHeads(ctx, &kmsv1.GetSignedTreeHeadsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	size := heads.GetHeads()[len(heads.GetHeads())-1].GetTreeSize()
	for _, d := range ds {
		var ids []string
		for _, e := range d.auditRecords() {
			if e.GetIndex() < size {
				ids = append(ids, e.GetEventId())
			}
		}
		logs = append(logs, ids)
	}
	for i := 1; i < len(logs); i++ {
		if strings.Join(logs[i], ",") != strings.Join(logs[0], ",") || int64(len(logs[i])) != size {
			t.Fatalf("member %d holds a different audit log (%d of %d records)", i, len(logs[i]), size)
		}
	}
	checkInvariants(t, ds)
}

// BenchmarkCluster measures a three-node cluster of kmsd processes on
// loopback: CreateKey (a mutation, forwarded by followers) and
// GenerateDataKey (served by the member called), at 1 and 64 concurrent
// callers spread over the members. Run it with
//
//	go test -run '^$' -bench Cluster -benchtime 1x ./e2e
func BenchmarkCluster(b *testing.B) {
	for b.Loop() {
		// Quotas off: 64 callers make more than a principal's 100 mutations a second.
		ds := startClusterWith(b, b.TempDir(), 3, func(*daemon, string) []string { return []string{"--rate-limits=false"} })
		k, err := ds[0].client().CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
		if err != nil {
			b.Fatal(err)
		}
		id := k.GetKeyMetadata().GetKeyId()
		var clients []kmsv1.KeyManagementServiceClient
		for _, d := range ds {
			clients = append(clients, d.client())
		}
		for _, op := range []string{"CreateKey", "GenerateDataKey"} {
			for _, callers := range []int{1, 64} {
				var n atomic.Int64
				deadline := time.Now().Add(3 * time.Second)
				var wg sync.WaitGroup
				for i := range callers {
					c := clients[i%len(clients)]
					wg.Go(func() {
						for time.Now().Before(deadline) {
							var err error
							if op == "CreateKey" {
								_, err = c.CreateKey(context.Background(), &kmsv1.CreateKeyRequest{})
							} else {
								_, err = c.GenerateDataKey(context.Background(), &kmsv1.GenerateDataKeyRequest{KeyId: id, NumberOfBytes: 32})
							}
							if err != nil {
								b.Error(err)
								return
							}
							n.Add(1)
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(n.Load())/3, fmt.Sprintf("%s-%d-ops/s", op, callers))
			}
		}
		for _, d := range ds {
			d.stop()
		}
	}
}

// TestJoinAndRemove: a node started alone becomes a cluster of one; two
// more join it with --join (they hold the same root key); a mutation made
// through a joined member is forwarded to the leader, whose API address
// the members learned from the replicated state; kmsctl cluster remove
// takes a member out. A node that does not hold the root key cannot join.
func TestJoinAndRemove(t *testing.T) {
	base := t.TempDir()
	rootKey := filepath.Join(base, "root.key")
	if out, code := runKmsd(t, "init", "--root-key-file", rootKey); code != 0 {
		t.Fatalf("kmsd init: %d %s", code, out)
	}
	node := func(id, join, key string) *daemon {
		d := &daemon{t: t, dataDir: filepath.Join(base, id), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
		d.args = []string{"--node-id", id, "--data-dir", d.dataDir, "--root-key-file", key, "--grpc-addr", d.grpcAddr,
			"--http-addr", d.httpAddr, "--raft-addr", freeAddr(t), "--raft-timeout", "300ms"}
		if join != "" {
			d.args = append(d.args, "--join", join)
		}
		return d
	}
	first := node("a", "", rootKey)
	first.start()
	b, c := node("b", first.grpcAddr, rootKey), node("c", first.grpcAddr, rootKey)
	b.start()
	c.start()
	ds := []*daemon{first, b, c}
	waitFor(t, "three voters", func() bool {
		st := first.ok("cluster", "status")
		members, _ := st["Members"].([]any)
		return len(members) == 3
	})
	checkInvariants(t, ds)
	k, err := c.client().CreateKey(context.Background(), &kmsv1.CreateKeyRequest{Description: "through a joined member"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		waitFor(t, "the key on "+d.grpcAddr, func() bool {
			_, err := d.client().DescribeKey(context.Background(), &kmsv1.DescribeKeyRequest{KeyId: k.GetKeyMetadata().GetKeyId()})
			return err == nil
		})
	}
	// An outsider with another root key is refused.
	otherKey := filepath.Join(base, "other.key")
	runKmsd(t, "init", "--root-key-file", otherKey)
	outsider := node("x", first.grpcAddr, otherKey)
	outsider.launch()
	time.Sleep(2 * time.Second)
	if st := first.ok("cluster", "status"); strings.Contains(fmt.Sprint(st["Members"]), "NodeId:x") {
		t.Fatalf("a node without the root key joined: %v", st)
	}
	if !strings.Contains(outsider.log.String(), "joining the cluster failed") {
		t.Errorf("the outsider does not say it was refused:\n%s", outsider.log)
	}
	outsider.stop()
	// Remove c through b (which may be a follower).
	if r := b.ctl(nil, "cluster", "remove", "--node-id", "c"); r.code != 0 {
		t.Fatalf("cluster remove: %d %s", r.code, r.stderr)
	}
	st := first.ok("cluster", "status")
	if members, _ := st["Members"].([]any); len(members) != 2 || strings.Contains(fmt.Sprint(members), "NodeId:c") {
		t.Fatalf("members after removing c: %v", members)
	}
	b.fails("NotFoundException", "cluster", "remove", "c") // NODE as the argument
}

// TestLeaderPartition isolates the leader by stopping its process
// (SIGSTOP): the two others elect a leader and go on; a mutation sent to
// the isolated member meanwhile is not acknowledged; once it runs again
// (SIGCONT) it steps down and the three converge on one history.
func TestLeaderPartition(t *testing.T) {
	ds := startCluster(t, 3)
	ctx := context.Background()
	old := leaderOf(t, ds)
	rest := without(ds, old)
	old.cmd.Process.Signal(syscall.SIGSTOP)
	stopped := true
	defer func() {
		if stopped {
			old.cmd.Process.Signal(syscall.SIGCONT)
		}
	}()
	// The isolated member does not acknowledge a mutation.
	isolated := make(chan error, 1)
	go func() {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := old.client().CreateKey(cctx, &kmsv1.CreateKeyRequest{Description: "to the isolated leader"})
		isolated <- err
	}()
	if next := leaderOf(t, rest); next == old {
		t.Fatal("the stopped member still leads")
	}
	var made []string
	for range 20 {
		k, err := rest[len(made)%2].client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "majority"})
		if err != nil {
			t.Fatalf("majority side: %v", err)
		}
		made = append(made, k.GetKeyMetadata().GetKeyId())
	}
	if err := <-isolated; err == nil {
		t.Fatal("the isolated leader acknowledged a mutation")
	}
	old.cmd.Process.Signal(syscall.SIGCONT)
	stopped = false
	// One history: every member ends with the same keys and log.
	for _, d := range ds {
		c := d.client()
		waitFor(t, "the majority's keys on "+d.grpcAddr, func() bool {
			for _, id := range made {
				if _, err := c.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
					return false
				}
			}
			return true
		})
	}
	list := func(d *daemon) string {
		var ids []string
		marker := ""
		for {
			r, err := d.client().ListKeys(ctx, &kmsv1.ListKeysRequest{Marker: marker, Limit: 1000})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range r.GetKeys() {
				ids = append(ids, k.GetKeyId())
			}
			if marker = r.GetNextMarker(); marker == "" {
				return strings.Join(ids, ",")
			}
		}
	}
	waitFor(t, "identical key lists", func() bool {
		a := list(ds[0])
		return a == list(ds[1]) && a == list(ds[2])
	})
	checkInvariants(t, ds)
}
