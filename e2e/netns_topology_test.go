package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A network of Linux network namespaces for partition tests (R5). The
// test's own namespace and one namespace per node hang off a bridge in a
// "switch" namespace:
//
//	test namespace  kme<pid> 10.213.S.254 ──┐
//	kmsde2e-<pid>-n0  eth0   10.213.S.1  ───┤
//	kmsde2e-<pid>-n1  eth0   10.213.S.2  ───┼── br0 in kmsde2e-<pid>-sw
//	kmsde2e-<pid>-n2  eth0   10.213.S.3  ───┘
//
// A node stops sending to another when a blackhole route to the other's
// address is added in its namespace; the test's own address is never
// blackholed, so the test reaches every node throughout. Every name
// carries the test process's id, so runs side by side do not meet; the
// only thing added to the test's own namespace is the kme<pid> link and
// the connected route of its /24, both gone when the link is deleted.

const netnsPrefix = "kmsde2e-"

// netTopo is the network of one test.
type netTopo struct {
	t      testing.TB
	sw     string   // the switch namespace
	nodes  []string // the nodes' namespaces
	hostIf string   // the test namespace's end of its veth
	subnet string   // the first three octets, "10.213.S"
	// routes are the blackhole routes in place, by namespace.
	routes map[string][]string
}

// netnsUnavailable says why this environment cannot build a netTopo: no
// ip command, or no right to create a network namespace (it needs root or
// CAP_NET_ADMIN and CAP_SYS_ADMIN); "" if it can.
func netnsUnavailable() string {
	if _, err := exec.LookPath("ip"); err != nil {
		return "the ip command (iproute2) is not installed"
	}
	probe := fmt.Sprintf("%s%d-probe", netnsPrefix, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		return fmt.Sprintf("`ip netns add` failed (needs CAP_NET_ADMIN and CAP_SYS_ADMIN, e.g. root): %v: %s",
			err, strings.TrimSpace(string(out)))
	}
	exec.Command("ip", "netns", "del", probe).Run()
	return ""
}

// ipCmd runs ip with args and returns its error with its output.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetTopo builds the network for n nodes and removes it when the test
// ends (registered before any process is started in it, so it runs after
// they are stopped).
func newNetTopo(t testing.TB, n int) *netTopo {
	t.Helper()
	sweepNetns()
	pid := os.Getpid()
	base := fmt.Sprintf("%s%d-", netnsPrefix, pid)
	nt := &netTopo{t: t, sw: base + "sw", hostIf: fmt.Sprintf("kme%d", pid), routes: map[string][]string{}}
	for i := range n {
		nt.nodes = append(nt.nodes, fmt.Sprintf("%sn%d", base, i))
	}
	subnet, err := freeSubnet(pid)
	if err != nil {
		t.Fatal(err)
	}
	nt.subnet = subnet
	t.Cleanup(nt.remove)
	run := func(args ...string) {
		t.Helper()
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	run("netns", "add", nt.sw)
	run("-n", nt.sw, "link", "set", "lo", "up")
	run("-n", nt.sw, "link", "add", "br0", "type", "bridge")
	run("-n", nt.sw, "link", "set", "br0", "up")
	for i, ns := range nt.nodes {
		port := fmt.Sprintf("p%d", i)
		run("netns", "add", ns)
		run("-n", ns, "link", "set", "lo", "up")
		run("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", nt.sw)
		run("-n", nt.sw, "link", "set", port, "master", "br0", "up")
		run("-n", ns, "addr", "add", nt.addr(i)+"/24", "dev", "eth0")
		run("-n", ns, "link", "set", "eth0", "up")
	}
	run("link", "add", nt.hostIf, "type", "veth", "peer", "name", "ph", "netns", nt.sw)
	run("-n", nt.sw, "link", "set", "ph", "master", "br0", "up")
	run("addr", "add", nt.subnet+".254/24", "dev", nt.hostIf)
	run("link", "set", nt.hostIf, "up")
	return nt
}

// addr is node i's address.
func (nt *netTopo) addr(i int) string { return fmt.Sprintf("%s.%d", nt.subnet, i+1) }

// exec is the command prefix that runs a program in node i's namespace.
func (nt *netTopo) exec(i int) []string { return []string{"ip", "netns", "exec", nt.nodes[i]} }

// block makes node from drop everything it sends to node to.
func (nt *netTopo) block(from, to int) {
	nt.t.Helper()
	ns, dst := nt.nodes[from], nt.addr(to)+"/32"
	if err := ipCmd("-n", ns, "route", "add", "blackhole", dst); err != nil {
		nt.t.Fatal(err)
	}
	nt.routes[ns] = append(nt.routes[ns], dst)
}

// heal removes every blackhole route.
func (nt *netTopo) heal() error {
	var errs []error
	for ns, dsts := range nt.routes {
		for _, dst := range dsts {
			errs = append(errs, ipCmd("-n", ns, "route", "del", "blackhole", dst))
		}
		delete(nt.routes, ns)
	}
	return errors.Join(errs...)
}

// remove deletes the namespaces (and with them the links in them, whose
// peers go too) and the test namespace's link.
func (nt *netTopo) remove() {
	var errs []error
	for _, ns := range append([]string{nt.sw}, nt.nodes...) {
		if netnsExists(ns) {
			errs = append(errs, ipCmd("netns", "del", ns))
		}
	}
	if exec.Command("ip", "link", "show", nt.hostIf).Run() == nil {
		errs = append(errs, ipCmd("link", "del", nt.hostIf))
	}
	if err := errors.Join(errs...); err != nil {
		nt.t.Errorf("removing the test network: %v", err)
	}
}

func netnsExists(name string) bool {
	_, err := os.Stat("/run/netns/" + name)
	return err == nil
}

// freeSubnet picks a 10.213.S.0/24 that no address or route of the test
// namespace overlaps, starting from one derived from pid.
func freeSubnet(pid int) (string, error) {
	var used strings.Builder
	for _, args := range [][]string{{"-4", "-o", "addr", "show"}, {"-4", "route", "show", "table", "all"}} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			return "", fmt.Errorf("ip %s: %v", strings.Join(args, " "), err)
		}
		used.Write(out)
	}
	if strings.Contains(used.String(), "10.0.0.0/8") || strings.Contains(used.String(), "10.213.0.0/16") {
		return "", errors.New("the test namespace routes 10.213.0.0/16 already; no subnet for the test network")
	}
	for i := range 250 {
		subnet := fmt.Sprintf("10.213.%d", (pid+i)%250+1)
		if !strings.Contains(used.String(), subnet+".") {
			return subnet, nil
		}
	}
	return "", errors.New("no free 10.213.S.0/24 for the test network")
}

// sweepNetns removes what earlier runs killed before their cleanup left:
// namespaces and links named after test processes that no longer exist.
func sweepNetns() {
	dead := func(pid string) bool {
		_, err := os.Stat("/proc/" + pid)
		return errors.Is(err, os.ErrNotExist)
	}
	if entries, err := os.ReadDir("/run/netns"); err == nil {
		re := regexp.MustCompile("^" + netnsPrefix + `(\d+)-(sw|n\d+|probe)$`)
		for _, e := range entries {
			if m := re.FindStringSubmatch(e.Name()); m != nil && dead(m[1]) {
				ipCmd("netns", "del", e.Name())
			}
		}
	}
	out, err := exec.Command("ip", "-o", "link", "show", "type", "veth").Output()
	if err != nil {
		return
	}
	re := regexp.MustCompile(`^\d+: kme(\d+)[@:]`)
	for _, line := range strings.Split(string(out), "\n") {
		if m := re.FindStringSubmatch(line); m != nil && dead(m[1]) {
			if _, err := strconv.Atoi(m[1]); err == nil {
				ipCmd("link", "del", "kme"+m[1])
			}
		}
	}
}
