package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestRapidResetX2 (test plan X2): a client in another process opens
// streams, half of them complete GenerateRandom calls and half audit tails
// whose handlers wait for their request, and resets each at once (the
// HTTP/2 rapid-reset pattern, CVE-2023-44487), at least 10,000 in five
// rounds of at least 300 ms; when the server closes its connection it
// connects again and goes on, blocking when its writes block. The attacker
// has an address of its own (127.0.0.2) and the lowest CPU priority, as a
// remote client would. The server never runs more handlers for one
// connection than MaxConcurrentStreams, closes the flooding connections,
// and then refuses the attacker's address for a while, holding its new
// connections open unread. Another client's p99 latency is measured in
// rounds that alternate: quiet, the attacker's process busy on its own (a
// control for the CPU it takes from a shared machine, logged), and the
// attack. The plan's bound holds: the p99 during the attack rounds is under
// twice the quiet p99 (0.98-1.08x here; 5-7x when refused connections were
// closed at once and the attacker reconnected thousands of times a second,
// 20x before its address was refused). A measurement over the bound is
// repeated, on a new server, at most twice: the machine is shared.
func TestRapidResetX2(t *testing.T) {
	if testing.Short() {
		t.Skip("a latency measurement (about 13 s): it runs without -short, in the README's test command")
	}
	const attempts = 3
	for i := 1; ; i++ {
		var ratio float64
		// A subtest each, so that each server and attacker is gone
		// before the next measurement.
		if !t.Run(fmt.Sprintf("measurement %d", i), func(t *testing.T) { ratio = rapidResetRound(t) }) {
			return
		}
		if ratio < 2 {
			return
		}
		if i == attempts {
			t.Fatalf("the other client's p99 during the attack was %.2fx the quiet p99 in %d measurements; want < 2x", ratio, attempts)
		}
		t.Logf("measurement %d: %.2fx the quiet p99; measuring again", i, ratio)
	}
}

// rapidResetRound runs TestRapidResetX2's attack against a new server,
// checks its bounds, and returns the other client's p99 during the attack
// over its quiet p99.
func rapidResetRound(t *testing.T) float64 {
	const streams = 10000
	maxStreams := int(DefaultConnLimits.MaxConcurrentStreams)
	h, addr := newListenerHarness(t)
	ctx := context.Background()
	call := func() time.Duration {
		start := time.Now()
		if _, err := h.client.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{NumberOfBytes: 32}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	atk := startAttacker(t, addr)
	for range 50 { // warm up
		call()
	}
	// Rounds of quiet and attack alternate, so that both sets of samples
	// see the same background load of a shared machine.
	var baseline, control, during []time.Duration
	var res attackResult
	measure := func(n int) []time.Duration {
		var lat []time.Duration
		done := make(chan attackResult, 1)
		go func() { done <- atk.attack(n, 300*time.Millisecond) }()
		for {
			lat = append(lat, call())
			select {
			case round := <-done:
				if round.err != nil {
					t.Fatal(round.err)
				}
				res.add(round)
				return lat
			default:
			}
		}
	}
	for range x2Rounds {
		quietUntil := time.Now().Add(300 * time.Millisecond)
		for time.Now().Before(quietUntil) {
			baseline = append(baseline, call())
		}
		control = append(control, measure(0)...)
		during = append(during, measure(streams/x2Rounds)...)
	}
	_, peak := h.srv.calls.load()
	connPeak := h.srv.guard.peak.Load()
	t.Logf("the server saw %d calls of the attack end and refused %d of its connections", h.srv.guard.ends.Load(), h.srv.guard.refused.Load())
	p99b, p99c, p99d := p99(baseline), p99(control), p99(during)
	t.Logf("attack: %d streams opened and reset in %v on %d connections (%d closed by the server); at most %d handlers at once on one connection (limit %d), %d calls in the interceptors at once on all",
		res.Sent, res.Took, res.Conns, res.Closed, connPeak, maxStreams, peak)
	t.Logf("other client: p99 %v quiet (%d calls), %v with the attacker's process busy on its own (%d calls), %v during the attack (%d calls): %.2fx the quiet p99, %.2fx the busy one",
		p99b, len(baseline), p99c, len(control), p99d, len(during), float64(p99d)/float64(p99b), float64(p99d)/float64(p99c))
	if res.Sent < streams {
		t.Fatalf("sent %d streams, want %d", res.Sent, streams)
	}
	if connPeak > int64(maxStreams) || connPeak == 0 {
		t.Errorf("%d handlers ran at once on one connection; MaxConcurrentStreams is %d", connPeak, maxStreams)
	}
	if res.Closed == 0 {
		t.Errorf("the server never closed a flooding connection")
	}
	if h.srv.guard.refused.Load() == 0 {
		t.Errorf("the server never refused the flooding address's new connections")
	}
	return float64(p99d) / float64(p99b)
}

// newListenerHarness is newHarness served through Server.Listener, as kmsd
// serves, returning the address.
func newListenerHarness(t *testing.T) (*harness, string) {
	var addr string
	h := newHarnessTB(t, func(c *Config) {})
	// A second gRPC server for the same Server, on its Listener.
	g := grpc.NewServer(h.srv.ServerOptions()...)
	h.srv.Register(g)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go g.Serve(h.srv.Listener(lis))
	t.Cleanup(g.Stop)
	addr = lis.Addr().String()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	h.client = kmsv1.NewKeyManagementServiceClient(conn)
	return h, addr
}

type attackResult struct {
	Sent, Conns, Closed int
	Took                time.Duration
	err                 error
}

// The attacker of TestRapidResetX2 runs in a process of its own (this test
// binary, run again with x2AttackEnv set), as a remote client would: its
// own CPU use is not the server process's.
const x2AttackEnv = "KMSD_TEST_X2_ATTACK"

// TestX2AttackProcess is the attacker's process; it does nothing unless
// TestRapidResetX2 started it. It runs one attack for each line "N D" (at
// least N streams for at least D) read from its standard input and prints
// each result.
func TestX2AttackProcess(t *testing.T) {
	addr := os.Getenv(x2AttackEnv)
	if addr == "" {
		return
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		ns, ds, _ := strings.Cut(sc.Text(), " ")
		n, err := strconv.Atoi(ns)
		if err != nil {
			t.Fatal(err)
		}
		d, err := time.ParseDuration(ds)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 { // the control: the same process busy without the server
			spin(d)
			fmt.Printf("X2RESULT {}\n")
			continue
		}
		res := rapidReset(addr, n, d)
		if res.err != nil {
			t.Fatal(res.err)
		}
		b, _ := json.Marshal(res)
		fmt.Printf("X2RESULT %s\n", b)
	}
}

// spin keeps one CPU busy for d.
func spin(d time.Duration) {
	var x uint64
	for end := time.Now().Add(d); time.Now().Before(end); {
		for i := range 10000 {
			x = x*31 + uint64(i)
		}
	}
	spinSink.Store(x)
}

var spinSink atomic.Uint64

// attacker is a running attacker process.
type attacker struct {
	in  io.WriteCloser
	out *bufio.Scanner
}

// startAttacker starts the attacker's process against addr.
func startAttacker(t *testing.T, addr string) *attacker {
	cmd := exec.Command(os.Args[0], "-test.run=^TestX2AttackProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), x2AttackEnv+"="+addr)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// At the lowest priority: an attacker is on a machine of its own,
	// taking nothing from the server's but what its traffic costs there.
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, 19); err != nil {
		t.Logf("attacker's priority not lowered: %v", err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return &attacker{in: in, out: bufio.NewScanner(out)}
}

// attack runs one attack of at least n streams for at least d.
func (a *attacker) attack(n int, d time.Duration) attackResult {
	if _, err := fmt.Fprintln(a.in, n, d); err != nil {
		return attackResult{err: err}
	}
	for a.out.Scan() {
		if line, ok := strings.CutPrefix(a.out.Text(), "X2RESULT "); ok {
			var res attackResult
			if err := json.Unmarshal([]byte(line), &res); err != nil {
				return attackResult{err: err}
			}
			return res
		}
	}
	return attackResult{err: fmt.Errorf("the attacker stopped: %v", a.out.Err())}
}

func (a *attackResult) add(b attackResult) {
	a.Sent, a.Conns, a.Closed, a.Took, a.err = a.Sent+b.Sent, a.Conns+b.Conns, a.Closed+b.Closed, a.Took+b.Took, b.err
}

// x2Rounds is how many rounds of quiet and attack TestRapidResetX2 runs.
const x2Rounds = 5

// rapidReset opens at least n streams, for at least d, each with HEADERS (and, for the unary calls,
// a complete request message) and reset at once, on one raw HTTP/2
// connection after another: a new one whenever the server closes the
// last. Streams written after the server closed a connection count as
// sent, as they would for a real attacker; the server counts those it saw.
func rapidReset(addr string, n int, d time.Duration) attackResult {
	var res attackResult
	start := time.Now()
	for res.Sent < n || time.Since(start) < d {
		sent, closed, err := resetOnOneConn(addr, max(n-res.Sent, 1000))
		res.Sent += sent
		res.Conns++
		if closed {
			res.Closed++
		}
		if err != nil {
			res.err = err
			break
		}
	}
	res.Took = time.Since(start)
	return res
}

// attackerAddr is the attacker's own address: another host's, as far as
// the server can tell, so that refusing it does not refuse the other client
// (127.0.0.1).
var attackerAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}

func resetOnOneConn(addr string, n int) (sent int, closed bool, err error) {
	c, err := (&net.Dialer{LocalAddr: attackerAddr}).Dial("tcp", addr)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		return 0, true, nil
	}
	fr := http2.NewFramer(c, c)
	pong, gone := make(chan struct{}), make(chan struct{})
	go func() { // read whatever the server sends; note the PING's answer
		defer close(gone)
		for {
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if ping, ok := f.(*http2.PingFrame); ok && ping.IsAck() && ping.Data == [8]byte{'x', '2'} {
				close(pong)
			}
		}
	}()
	if err := fr.WriteSettings(); err != nil {
		return 0, true, nil
	}
	headers := func(path string) []byte {
		var hb bytes.Buffer
		enc := hpack.NewEncoder(&hb)
		for _, f := range []hpack.HeaderField{
			{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
			{Name: ":path", Value: path}, {Name: ":authority", Value: addr},
			{Name: "content-type", Value: "application/grpc"}, {Name: "te", Value: "trailers"},
		} {
			enc.WriteField(f)
		}
		return hb.Bytes()
	}
	unary, stream := headers("/kms.v1.KeyManagementService/GenerateRandom"), headers("/kms.v1.AuditService/TailEvents")
	msg, _ := proto.Marshal(&kmsv1.GenerateRandomRequest{NumberOfBytes: 32})
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(msg)))
	body = append(body, msg...)
	for i := range n {
		select {
		case <-gone:
			return i, true, nil
		default:
		}
		id := uint32(2*i + 1)
		// Odd streams are unary calls sent whole; even ones open an audit
		// tail whose handler runs and waits for its request until the reset.
		hdr := unary
		if i%2 == 1 {
			hdr = stream
		}
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: hdr, EndHeaders: true}) != nil ||
			(i%2 == 0 && fr.WriteData(id, true, body) != nil) || fr.WriteRSTStream(id, http2.ErrCodeCancel) != nil {
			return i, true, nil
		}
	}
	// Wait until the server has read them all (or closed the connection).
	if fr.WritePing(false, [8]byte{'x', '2'}) != nil {
		return n, true, nil
	}
	select {
	case <-pong:
		return n, false, nil
	case <-gone:
		return n, true, nil
	case <-time.After(30 * time.Second):
		return n, false, errors.New("no answer to the PING after the streams")
	}
}

func p99(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)*99/100]
}
