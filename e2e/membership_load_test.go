package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestMembershipChangesUnderLoad (R8): while four writers create keys
// through random members, the cluster grows from three voters to five
// (two nodes join), the leader is removed, a stopped (partitioned) member
// is removed, and it is back at three. No acknowledged write is lost, and
// writes succeed again within 5 s of each change.
func TestMembershipChangesUnderLoad(t *testing.T) {
	base := t.TempDir()
	ds := startClusterWith(t, base, 3, nil)
	rootKey := filepath.Join(base, "root.key")

	var mu sync.Mutex
	members := append([]*daemon(nil), ds...)
	var acked []string
	var okTimes []time.Time
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				d := members[(w+i)%len(members)]
				mu.Unlock()
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				k, err := d.client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: fmt.Sprint("writer ", w)})
				cancel()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked = append(acked, k.GetKeyMetadata().GetKeyId())
				okTimes = append(okTimes, time.Now())
				mu.Unlock()
			}
		})
	}
	// recovered waits for a write acknowledged after t0 and returns how long
	// it took.
	recovered := func(what string, t0 time.Time) time.Duration {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := len(okTimes)
			var last time.Time
			if n > 0 {
				last = okTimes[n-1]
			}
			mu.Unlock()
			if last.After(t0) {
				gap := time.Duration(0)
				mu.Lock()
				for i := len(okTimes) - 1; i > 0 && okTimes[i].After(t0); i-- {
					gap = max(gap, okTimes[i].Sub(okTimes[i-1]))
				}
				mu.Unlock()
				if gap > 5*time.Second {
					t.Errorf("%s: writes stopped for %v, want at most 5 s", what, gap)
				}
				return gap
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%s: no write succeeded for 20 s", what)
		return 0
	}
	ctl := func(d *daemon, args ...string) {
		t.Helper()
		if r := d.ctl(nil, args...); r.code != 0 {
			for _, m := range ds {
				t.Logf("%s:\n%s", nodeID(m), tail(m.log.String(), 15))
			}
			t.Fatalf("kmsctl %v: %d %s", args, r.code, r.stderr)
		}
	}
	suffrages := func(d *daemon) map[string]string {
		st := d.ok("cluster", "status")
		out := map[string]string{}
		for _, m := range field(st, "Members").([]any) {
			m := m.(map[string]any)
			out[fmt.Sprint(m["NodeId"])] = fmt.Sprint(m["Suffrage"])
		}
		return out
	}
	time.Sleep(500 * time.Millisecond)

	// 3 -> 5.
	for _, id := range []string{"n3", "n4"} {
		d := &daemon{t: t, dataDir: filepath.Join(base, id), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
		d.args = []string{"--node-id", id, "--data-dir", d.dataDir, "--root-key-file", rootKey, "--grpc-addr", d.grpcAddr,
			"--http-addr", d.httpAddr, "--raft-addr", freeAddr(t), "--raft-timeout", "300ms", "--join", ds[0].grpcAddr}
		t0 := time.Now()
		d.start()
		mu.Lock()
		members = append(members, d)
		mu.Unlock()
		ds = append(ds, d)
		t.Logf("%s joined: longest gap between writes after it %v", id, recovered("join "+id, t0))
	}
	waitFor(t, "five voters", func() bool { return len(suffrages(ds[0])) == 5 })

	// Remove the leader.
	leader := leaderOf(t, ds)
	t0 := time.Now()
	ctl(without(ds, leader)[0], "cluster", "remove", "--node-id", nodeID(leader))
	mu.Lock()
	members = without(members, leader)
	mu.Unlock()
	ds = without(ds, leader)
	t.Logf("leader %s removed: longest gap %v", nodeID(leader), recovered("remove the leader", t0))
	leader.stop()

	// Remove a member that is partitioned (stopped with SIGSTOP).
	victim := without(ds, leaderOf(t, ds))[0]
	mu.Lock()
	members = without(members, victim)
	mu.Unlock()
	victim.cmd.Process.Signal(syscall.SIGSTOP)
	t0 = time.Now()
	ds = without(ds, victim)
	ctl(ds[0], "cluster", "remove", "--node-id", nodeID(victim))
	t.Logf("partitioned %s removed: longest gap %v", nodeID(victim), recovered("remove a partitioned member", t0))
	victim.cmd.Process.Signal(syscall.SIGCONT)
	victim.stop()

	close(stop)
	wg.Wait()
	if got := suffrages(ds[0]); len(got) != 3 {
		t.Fatalf("members at the end: %v", got)
	}
	checkInvariants(t, ds)
	for _, d := range ds {
		c := d.client()
		for _, id := range acked {
			if _, err := c.DescribeKey(context.Background(), &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
				t.Fatalf("acknowledged key %s missing on %s: %v", id, d.grpcAddr, err)
			}
		}
	}
	t.Logf("%d writes acknowledged, all on the three members left", len(acked))
}

// nodeID returns the --node-id a daemon was started with.
func nodeID(d *daemon) string {
	for i, a := range d.args {
		if a == "--node-id" && i+1 < len(d.args) {
			return d.args[i+1]
		}
	}
	return ""
}
