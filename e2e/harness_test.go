// Package e2e tests kmsd end to end: it builds the real kmsd and kmsctl
// binaries, starts kmsd on free loopback ports with a data directory in a
// temporary directory, and drives it through kmsctl and the gRPC API.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kmsd/kmsd/internal/testnet"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kmsd/kmsd/auth"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Paths of the binaries built by TestMain.
var kmsdBin, kmsctlBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kmsd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kmsdBin, kmsctlBin = filepath.Join(dir, "kmsd"), filepath.Join(dir, "kmsctl")
	for bin, pkg := range map[string]string{kmsdBin: "../cmd/kmsd", kmsctlBin: "../cmd/kmsctl"} {
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", pkg, err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running kmsd process.
type daemon struct {
	t        testing.TB
	dataDir  string
	args     []string
	grpcAddr string
	httpAddr string
	cmd      *exec.Cmd
	log      *bytes.Buffer
	exited   chan struct{}
	// creds, if set, secure the test's gRPC connections (TLS), and ctlEnv
	// is added to kmsctl's environment.
	creds  credentials.TransportCredentials
	ctlEnv []string
	// access signs the calls: the root's credentials, from kmsd
	// root-credentials for a cluster, or the dev-credentials file.
	access *auth.Credentials
	// prefix, if set, is the command kmsd runs under, such as
	// "ip netns exec NS" to run it inside a network namespace.
	prefix []string
}

// accessKey returns the credentials the test calls with.
func (d *daemon) accessKey() auth.Credentials {
	d.t.Helper()
	if d.access != nil {
		return *d.access
	}
	var c auth.Credentials
	if b, err := os.ReadFile(filepath.Join(d.dataDir, "dev-credentials")); err == nil {
		c = parseCredentialLines(d.t, string(b))
	} else if key := d.flag("--root-key-file"); key != "" {
		out, code := runKmsd(d.t, "root-credentials", "--root-key-file", key)
		if code != 0 {
			d.t.Fatalf("kmsd root-credentials: %d %s", code, out)
		}
		c = parseCredentialLines(d.t, out)
	} else {
		d.t.Fatalf("no credentials for the daemon: %v", err)
	}
	d.access = &c
	return c
}

// flag returns the value of a flag the daemon was started with.
func (d *daemon) flag(name string) string {
	for i, a := range d.args {
		if a == name && i+1 < len(d.args) {
			return d.args[i+1]
		}
	}
	return ""
}

// parseCredentialLines reads KMS_ACCESS_KEY_ID=... lines.
func parseCredentialLines(t testing.TB, s string) auth.Credentials {
	t.Helper()
	var c auth.Credentials
	for _, line := range strings.Split(s, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		switch k {
		case "KMS_ACCESS_KEY_ID":
			c.AccessKeyID = v
		case "KMS_SECRET_ACCESS_KEY":
			c.SecretAccessKey = v
		}
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		t.Fatalf("no credentials in %q", s)
	}
	return c
}

// credentialEnv is the environment that gives kmsctl the credentials.
func (d *daemon) credentialEnv() []string {
	c := d.accessKey()
	return []string{"KMS_ACCESS_KEY_ID=" + c.AccessKeyID, "KMS_SECRET_ACCESS_KEY=" + c.SecretAccessKey}
}

// freeAddr returns a loopback address with a port that was free a moment
// ago, below the kernel's range of ephemeral ports, so that no outgoing
// connection takes it before the daemon binds it.
func freeAddr(t testing.TB) string {
	t.Helper()
	return testnet.FreeAddr(t)
}

// newDaemon prepares a kmsd in dev mode on free ports; extra flags follow.
func newDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, dataDir: filepath.Join(t.TempDir(), "data"),
		grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
	d.args = append([]string{"--dev", "--data-dir", d.dataDir, "--grpc-addr", d.grpcAddr,
		"--http-addr", d.httpAddr, "--raft-addr", freeAddr(t)}, extra...)
	return d
}

// startDaemon starts a dev-mode kmsd and waits until it is ready.
func startDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	d := newDaemon(t, extra...)
	d.start()
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	d.launch()
	if err := d.waitReady(30 * time.Second); err != nil {
		d.stop()
		d.t.Fatalf("kmsd did not become ready: %v\n%s", err, d.log)
	}
}

// launch starts the process without waiting for it to be ready.
func (d *daemon) launch() {
	d.t.Helper()
	d.log = new(bytes.Buffer)
	argv := append(append(append([]string(nil), d.prefix...), kmsdBin), d.args...)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.exited = make(chan struct{})
	go func() { d.cmd.Wait(); close(d.exited) }()
	d.t.Cleanup(d.stop)
}

func (d *daemon) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			if !bytes.Contains(d.log.Bytes(), []byte("address already in use")) {
				return errors.New("kmsd exited")
			}
			// Another test process (go test runs packages side by
			// side) took one of its ports while it was down: it is
			// started again once the port is free.
			time.Sleep(200 * time.Millisecond)
			d.launch()
			continue
		default:
		}
		resp, err := client.Get("http://" + d.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out")
}

// kill sends SIGKILL and waits for the process to go.
func (d *daemon) kill() {
	d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop sends SIGTERM and waits; it is safe to call twice.
func (d *daemon) stop() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.exited:
		return
	default:
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		d.t.Errorf("kmsd did not stop on SIGTERM within 15 s")
	}
}

// client returns a gRPC client of the daemon.
func (d *daemon) client() kmsv1.KeyManagementServiceClient {
	d.t.Helper()
	return kmsv1.NewKeyManagementServiceClient(d.grpcConn())
}

// grpcConn returns a new connection to the daemon, closed at the end of
// the test.
func (d *daemon) grpcConn() *grpc.ClientConn {
	d.t.Helper()
	conn := d.dial()
	d.t.Cleanup(func() { conn.Close() })
	return conn
}

// dial returns a new connection to the daemon, for the caller to close.
func (d *daemon) dial() *grpc.ClientConn {
	d.t.Helper()
	creds := d.creds
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(d.grpcAddr, append(auth.DialOptions(d.accessKey()), grpc.WithTransportCredentials(creds))...)
	if err != nil {
		d.t.Fatal(err)
	}
	return conn
}

// auditClient returns an AuditService client of the daemon.
func (d *daemon) auditClient() kmsv1.AuditServiceClient {
	d.t.Helper()
	return kmsv1.NewAuditServiceClient(d.grpcConn())
}

// auditRecords reads the daemon's whole audit log.
func (d *daemon) auditRecords() []*kmsv1.AuditEvent {
	d.t.Helper()
	c := d.auditClient()
	var out []*kmsv1.AuditEvent
	for {
		resp, err := c.GetEvents(context.Background(), &kmsv1.GetEventsRequest{StartIndex: int64(len(out))})
		if err != nil {
			d.t.Fatal(err)
		}
		out = append(out, resp.GetEvents()...)
		if len(resp.GetEvents()) == 0 || int64(len(out)) >= resp.GetTreeSize() {
			return out
		}
	}
}

// result is one kmsctl run.
type result struct {
	stdout, stderr string
	code           int
}

// ctl runs kmsctl against d with args and optional standard input.
func (d *daemon) ctl(stdin []byte, args ...string) result {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kmsctlBin, args...)
	cmd.Env = append(append(append(os.Environ(), "KMS_ENDPOINT="+d.grpcAddr), d.credentialEnv()...), d.ctlEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		d.t.Fatalf("kmsctl %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

// ok runs kmsctl, fails the test unless it succeeds, and decodes its JSON
// output into a map.
func (d *daemon) ok(args ...string) map[string]any {
	d.t.Helper()
	r := d.ctl(nil, args...)
	if r.code != 0 {
		d.t.Fatalf("kmsctl %s: exit %d\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	out := map[string]any{}
	if strings.TrimSpace(r.stdout) == "" {
		return out
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		d.t.Fatalf("kmsctl %s: output is not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return out
}

// fails runs kmsctl and fails the test unless it exits with the AWS CLI's
// service-error status and names the exception on stderr.
func (d *daemon) fails(exception string, args ...string) result {
	d.t.Helper()
	r := d.ctl(nil, args...)
	if r.code != 254 || !strings.Contains(r.stderr, "("+exception+")") {
		d.t.Fatalf("kmsctl %s: exit %d, stderr %q; want 254 and %s", strings.Join(args, " "), r.code, r.stderr, exception)
	}
	if r.stdout != "" {
		d.t.Fatalf("kmsctl %s printed %q on stdout despite failing", strings.Join(args, " "), r.stdout)
	}
	return r
}

// field walks a decoded JSON object along a dotted path.
func field(m map[string]any, path string) any {
	var v any = m
	for _, p := range strings.Split(path, ".") {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = obj[p]
	}
	return v
}

func str(m map[string]any, path string) string {
	s, _ := field(m, path).(string)
	return s
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

// A daemon whose port another process holds when it starts is started
// again once the port is free.
func TestDaemonWaitsForItsPort(t *testing.T) {
	d := newDaemon(t)
	l, err := net.Listen("tcp", d.grpcAddr)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(time.Second, func() { l.Close() })
	d.launch()
	if err := d.waitReady(30 * time.Second); err != nil {
		t.Fatalf("kmsd did not become ready once its port was free: %v\n%s", err, d.log)
	}
}
