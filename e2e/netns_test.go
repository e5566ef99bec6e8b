package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var netnsCycles = flag.Int("netns-cycles", 3, "partition cycles of TestNamespacedPartitions (R5: 50)")

const (
	// netnsRaftTimeout is the members' --raft-timeout; kmsd sets
	// LeaderLeaseTimeout to half of it.
	netnsRaftTimeout = 300 * time.Millisecond
	netnsLease       = netnsRaftTimeout / 2
	// netnsSlack is what the test allows, on top of the lease, between
	// cutting the leader off and its refusing reads: the partition is in
	// place when the ip command that adds the leader's routes returns,
	// raft checks the lease on a timer, and the machine is shared.
	netnsSlack = 100 * time.Millisecond
)

// partitionKind is a shape of partition, relative to the leader L and the
// other two members A and B.
type partitionKind int

const (
	// majorityMinority cuts L off from A and B both ways.
	majorityMinority partitionKind = iota
	// oneWay drops what L sends to A and B; what they send reaches L (the
	// answers, and so any TCP connection, do not come back).
	oneWay
	// bridge cuts L and B off from each other both ways; A still sees
	// both, so L may keep leading through A.
	bridge
)

func (k partitionKind) String() string {
	return [...]string{"majority/minority", "one-way", "bridge"}[k]
}

// TestNamespacedPartitions (R5): three kmsd processes, each in its own
// network namespace, are partitioned by blackhole routes, cycling through
// three shapes (majority/minority, one-way, bridge), -netns-cycles times.
// In every cycle:
//   - a leader cut off from both peers serves no key-state read
//     (DescribeKey, Encrypt) begun later than LeaderLeaseTimeout after the
//     cut (with a small allowance, netnsSlack); the time of its first
//     refusal is reported;
//   - while the partition lasts, a key is disabled and enabled again
//     through the majority side four times, through the follower and the
//     leader in turn, while every member is called with it back to back:
//     a call begun after a DisableKey was acknowledged and ended before
//     the next EnableKey was sent must fail, on every member, the cut-off
//     one included and through the healing: 0 stale reads;
//   - a workload of three clients enabling, disabling, describing and
//     encrypting under two keys through all members stays linearizable
//     (porcupine, nsModel);
//   - after healing, the members agree on one leader and converge to the
//     same state (checkInvariants) and the same key states.
//
// At the end every member must stop within 15 s of SIGTERM.
//
// It needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2, and is
// skipped without them.
func TestNamespacedPartitions(t *testing.T) {
	if why := netnsUnavailable(); why != "" {
		t.Skip("R5 needs network namespaces: " + why)
	}
	began := time.Now()
	nt := newNetTopo(t, 3)
	ds := startNetnsCluster(t, nt)
	// Cleanups run last first: the routes go, then the members stop.
	t.Cleanup(func() {
		if err := nt.heal(); err != nil {
			t.Error(err)
		}
		stopDiagnosed(t, ds)
	})
	var clients, probeClients []kmsv1.KeyManagementServiceClient
	for _, d := range ds {
		clients, probeClients = append(clients, d.client()), append(probeClients, d.client())
	}
	h := &nsHistory{start: time.Now()}
	var (
		perKind                                 [3]int
		deposed, refusedIn, held, bridgeChanges int
		probes, stale                           int
		maxServed, minRefusal, maxRefusal       time.Duration = -1, -1, -1
	)
	for cycle := range *netnsCycles {
		kind := partitionKind(cycle % 3)
		r := partitionCycle(t, nt, ds, clients, probeClients, h, kind, cycle)
		perKind[kind]++
		probes += r.probes
		stale += r.stale
		if r.deposed && kind == bridge {
			bridgeChanges++
		}
		if r.deposed && kind != bridge {
			deposed++
			maxServed = max(maxServed, r.lastServed)
			if r.firstRefused < 0 {
				held++
			} else {
				refusedIn++
				maxRefusal = max(maxRefusal, r.firstRefused)
				if minRefusal < 0 || r.firstRefused < minRefusal {
					minRefusal = r.firstRefused
				}
			}
		}
		t.Logf("cycle %d (%s): leader %s -> %s; stale reads %d of %d; the old leader served the last read begun %s after the cut, and its first refusal came %s after",
			cycle, kind, r.from, r.to, r.stale, r.probes, since(r.lastServed), since(r.firstRefused))
		if t.Failed() {
			break
		}
	}
	start := time.Now()
	res, bad := h.check()
	t.Logf("R5: %d cycles (%d majority/minority, %d one-way, %d bridge) in %v; stale reads: %d of %d probes after an acknowledged DisableKey",
		perKind[0]+perKind[1]+perKind[2], perKind[majorityMinority], perKind[oneWay], perKind[bridge], time.Since(began).Round(time.Second), stale, probes)
	t.Logf("R5: %d leaders cut off from both peers, all deposed; the last read one served began %s after the cut (max; LeaderLeaseTimeout %v); its first refusal came %s to %s after the cut in %d cycles, and in %d it held the calls without answering until the probe stopped; %d bridge cycles changed the leader",
		deposed, since(maxServed), netnsLease, since(minRefusal), since(maxRefusal), refusedIn, held, bridgeChanges)
	t.Logf("R5: workload history of %d operations (%d changes of unknown outcome): porcupine says %s in %v",
		len(h.ops), h.unknown, res, time.Since(start).Round(time.Millisecond))
	if stale != 0 {
		t.Errorf("%d stale reads: members served a key after its DisableKey was acknowledged", stale)
	}
	switch res {
	case porcupine.Illegal:
		t.Errorf("the workload's history is not linearizable; the first key that is not:\n%s", bad)
	case porcupine.Unknown:
		t.Errorf("porcupine could not decide within a minute whether the history is linearizable")
	}
}

// startNetnsCluster starts a kmsd in each of nt's node namespaces, on the
// node's address, forming one cluster with --peers.
func startNetnsCluster(t *testing.T, nt *netTopo) []*daemon {
	t.Helper()
	base := t.TempDir()
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
	for i := range nt.nodes {
		ip := nt.addr(i)
		d := &daemon{t: t, dataDir: filepath.Join(base, fmt.Sprintf("n%d", i)), grpcAddr: ip + ":7100",
			httpAddr: ip + ":7101", access: &access, prefix: nt.exec(i)}
		d.args = []string{"--node-id", fmt.Sprintf("n%d", i), "--data-dir", d.dataDir, "--root-key-file", rootKey,
			"--grpc-addr", d.grpcAddr, "--http-addr", d.httpAddr, "--raft-addr", ip + ":7102",
			"--raft-timeout", netnsRaftTimeout.String(),
			// The stale-read probe calls every member back to back, as
			// fast as it can, as one principal: over its quota on a quick
			// machine, which would then throttle the key changes.
			"--rate-limits=false"}
		peers = append(peers, fmt.Sprintf("n%d=%s:7102/%s", i, ip, d.grpcAddr))
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

// seenLeader returns the index of the member that member i's /readyz names
// as leader, or -1.
func seenLeader(d *daemon) int {
	client := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := client.Get("http://" + d.httpAddr + "/readyz")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var i int
	if _, err := fmt.Sscanf(strings.TrimSpace(string(body)), "ready; leader n%d", &i); err != nil {
		return -1
	}
	return i
}

// agreedLeader waits until every member of ds names the same leader,
// other than not, in three polls in a row, and returns it.
func agreedLeader(t *testing.T, all []*daemon, ds []int, not int) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	last, streak := -1, 0
	for time.Now().Before(deadline) {
		l := seenLeader(all[ds[0]])
		for _, i := range ds[1:] {
			if seenLeader(all[i]) != l {
				l = -1
			}
		}
		if l == not {
			l = -1
		}
		if l >= 0 && l == last {
			streak++
		} else {
			streak = 0
		}
		if last = l; streak >= 2 {
			return l
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("members %v never agreed on a leader", ds)
	return -1
}

// cycleResult is what one partition cycle measured.
type cycleResult struct {
	from, to                 string
	deposed                  bool
	lastServed, firstRefused time.Duration
	probes, stale            int
}

// partitionCycle partitions the cluster around its leader, checks the
// partition, heals it and checks that the members converge.
func partitionCycle(t *testing.T, nt *netTopo, ds []*daemon, clients, probeClients []kmsv1.KeyManagementServiceClient,
	h *nsHistory, kind partitionKind, cycle int) cycleResult {
	t.Helper()
	ctx := context.Background()
	l := agreedLeader(t, ds, []int{0, 1, 2}, -1)
	a, b := (l+1)%3, (l+2)%3
	if cycle%2 == 1 {
		a, b = b, a
	}
	var keys []string
	for range 4 {
		var k *kmsv1.CreateKeyResponse
		if err := retryUnavailableFor(5*time.Second, func() (err error) {
			k, err = clients[l].CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: fmt.Sprint("R5 cycle ", cycle)})
			return err
		}); err != nil {
			t.Fatalf("cycle %d: CreateKey: %v", cycle, err)
		}
		keys = append(keys, k.GetKeyMetadata().GetKeyId())
	}
	disableKey, leaseKey, work := keys[0], keys[1], keys[2:]
	stop := make(chan struct{})
	wg := h.workload(clients, work, uint64(cycle), stop)
	stopped := false
	defer func() {
		if !stopped {
			close(stop)
			wg.Wait()
		}
	}()
	probe := startLeaseProbe(probeClients[l], leaseKey)
	time.Sleep(150 * time.Millisecond)

	// The cut: the leader's own routes first, so that it stops reaching
	// its peers at cut.
	var cut time.Time
	switch kind {
	case majorityMinority:
		nt.block(l, a)
		nt.block(l, b)
		cut = time.Now()
		nt.block(a, l)
		nt.block(b, l)
	case oneWay:
		nt.block(l, a)
		nt.block(l, b)
		cut = time.Now()
	case bridge:
		nt.block(l, b)
		cut = time.Now()
		nt.block(b, l)
	}
	r := cycleResult{from: fmt.Sprintf("n%d", l)}
	// The side that can still make changes: the other two for the first
	// two shapes, and the bridge member A (which sees everyone) for the
	// third.
	via, next := a, -1
	if kind == bridge {
		time.Sleep(3 * netnsRaftTimeout)
		next = agreedLeader(t, ds, []int{a}, -1)
	} else {
		// The two elect one of themselves (agreedLeader fails the test
		// if they do not).
		next = agreedLeader(t, ds, []int{a, b}, l)
		if next == a {
			via = b
		}
	}
	r.to = fmt.Sprintf("n%d", next)
	// Every member is called with the key, back to back, while the key is
	// disabled and enabled again through the majority side, four times: a
	// call begun after a DisableKey was acknowledged and ended before the
	// next EnableKey was sent must fail, on every member.
	stale := startStaleProbe(probeClients, disableKey)
	var windows []staleWindow
	change := func(through int, enable bool) {
		t.Helper()
		if err := retryUnavailableFor(10*time.Second, func() (err error) {
			if enable {
				_, err = clients[through].EnableKey(ctx, &kmsv1.EnableKeyRequest{KeyId: disableKey})
			} else {
				_, err = clients[through].DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: disableKey})
			}
			return err
		}); err != nil {
			stale.finish(nil)
			t.Fatalf("cycle %d (%s): changing the key through n%d on the majority side: %v", cycle, kind, through, err)
		}
	}
	for round := range 4 {
		// Through the follower (forwarded) and the leader in turn.
		disabler, enabler := via, next
		if round%2 == 1 {
			disabler, enabler = next, via
		}
		if round > 0 {
			windows[len(windows)-1].to = time.Now()
			change(enabler, true)
			time.Sleep(20 * time.Millisecond)
		}
		change(disabler, false)
		windows = append(windows, staleWindow{from: time.Now()})
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(250 * time.Millisecond)
	r.lastServed, r.firstRefused = probe.finish(cut)
	// A leader cut off from both peers loses its quorum and must stop
	// serving within the lease. Across a bridge it keeps its quorum; if
	// it is deposed all the same, a higher term did it, not the lease.
	r.deposed = next != l
	if kind != bridge {
		if r.lastServed > netnsLease+netnsSlack {
			t.Errorf("cycle %d (%s): the deposed leader n%d served a read begun %v after the cut (LeaderLeaseTimeout %v)",
				cycle, kind, l, r.lastServed, netnsLease)
		}
	}

	if err := nt.heal(); err != nil {
		t.Fatal(err)
	}
	agreedLeader(t, ds, []int{0, 1, 2}, -1)
	time.Sleep(200 * time.Millisecond)
	// The last window runs through the healing: a member that was cut off
	// and missed the changes must not use the key when it can reach the
	// others again.
	windows[len(windows)-1].to = time.Now()
	var byMember []int
	r.probes, byMember = stale.finish(windows)
	for m, n := range byMember {
		r.stale += n
		if n > 0 {
			t.Errorf("cycle %d (%s): n%d used key %s in %d calls made while its DisableKey was acknowledged", cycle, kind, m, disableKey, n)
		}
	}
	close(stop)
	wg.Wait()
	stopped = true
	checkInvariants(t, ds)
	for _, id := range keys {
		var states []string
		for m := range ds {
			var d *kmsv1.DescribeKeyResponse
			if err := retryUnavailableFor(5*time.Second, func() (err error) {
				d, err = clients[m].DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
				return err
			}); err != nil {
				t.Fatalf("cycle %d: DescribeKey on n%d after healing: %v", cycle, m, err)
			}
			states = append(states, d.GetKeyMetadata().GetKeyState())
		}
		if states[0] != states[1] || states[0] != states[2] || (id == disableKey && states[0] != "Disabled") {
			t.Errorf("cycle %d: key %s after healing: states %v", cycle, id, states)
		}
	}
	return r
}

// stopDiagnosed stops the members with SIGTERM, as the harness would,
// but a member that has not exited 15 s later is made to dump its
// goroutines (SIGQUIT), and the test fails with the raft goroutines that
// were still running: after partitions, a replication goroutine stuck in
// a pipelined AppendEntries has been seen to keep raft's Shutdown waiting.
func stopDiagnosed(t *testing.T, ds []*daemon) {
	for i := len(ds) - 1; i >= 0; i-- {
		d := ds[i]
		select {
		case <-d.exited:
			continue
		default:
		}
		d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.exited:
			continue
		case <-time.After(15 * time.Second):
		}
		d.cmd.Process.Signal(syscall.SIGQUIT)
		<-d.exited
		var stuck []string
		for _, g := range strings.Split(d.log.String(), "\n\n") {
			if strings.Contains(g, "hashicorp/raft.") && strings.HasPrefix(strings.TrimSpace(g), "goroutine ") {
				stuck = append(stuck, g)
			}
		}
		t.Errorf("n%d did not stop within 15 s of SIGTERM; its raft goroutines then:\n%s", i, strings.Join(stuck, "\n\n"))
	}
}

// since formats a time after the cut; negative means none.
func since(d time.Duration) string {
	if d < 0 {
		return "none"
	}
	return d.Round(time.Millisecond).String()
}

// retryUnavailableFor makes call again while it is answered Unavailable
// (no leader yet, or the member could not reach it), for at most d.
func retryUnavailableFor(d time.Duration, call func() error) error {
	deadline := time.Now().Add(d)
	for {
		err := call()
		if status.Code(err) != codes.Unavailable && status.Code(err) != codes.DeadlineExceeded || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
