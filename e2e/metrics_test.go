package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestMetricsEndpoint: the real kmsd serves Prometheus metrics on its HTTP
// address: its Raft state as the leader of a cluster of one, its keys, and
// the calls it answered; /readyz and the gRPC health service agree.
func TestMetricsEndpoint(t *testing.T) {
	d := startDaemon(t)
	ctx := context.Background()
	if _, err := d.client().CreateKey(ctx, &kmsv1.CreateKeyRequest{}); err != nil {
		t.Fatal(err)
	}
	body := httpGet(t, "http://"+d.httpAddr+"/metrics", http.StatusOK)
	for _, want := range []string{
		`kmsd_raft_state{state="Leader"} 1`, `kmsd_raft_has_leader 1`, `kmsd_keys{state="Enabled"} 1`,
		`kmsd_requests_total{operation="CreateKey",result="ok"} 1`, `kmsd_audit_commit_duration_seconds_count`,
		`kmsd_go_goroutines`, `kmsd_process_open_fds`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, line := range strings.Split(body, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "kmsd_") {
			t.Errorf("metric not named kmsd_*: %s", line)
		}
	}
	httpGet(t, "http://"+d.httpAddr+"/readyz", http.StatusOK)
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("gRPC health %v %v while /readyz answers 200", resp.GetStatus(), err)
	}
}

// TestReadinessFollowsQuorum: a member of a cluster of three is ready
// (/readyz 200, gRPC health SERVING) while the cluster has a leader, and
// both say not ready once the other two are gone and no leader remains;
// /healthz still answers (the process is alive). Its metrics say the same.
func TestReadinessFollowsQuorum(t *testing.T) {
	ds := startCluster(t, 3)
	d := ds[0]
	conn, err := grpc.NewClient(d.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	state := func() (int, healthpb.HealthCheckResponse_ServingStatus, string) {
		resp, err := http.Get("http://" + d.httpAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		h, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: "kms.v1.KeyManagementService"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, h.GetStatus(), string(b)
	}
	waitFor := func(code int, st healthpb.HealthCheckResponse_ServingStatus) string {
		deadline := time.Now().Add(15 * time.Second)
		for {
			c, s, body := state()
			if c == code && s == st {
				return body
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz %d %q and health %v; want %d and %v", c, body, s, code, st)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(http.StatusOK, healthpb.HealthCheckResponse_SERVING)
	ds[1].kill()
	ds[2].kill()
	body := waitFor(http.StatusServiceUnavailable, healthpb.HealthCheckResponse_NOT_SERVING)
	if !strings.Contains(body, "no Raft leader") {
		t.Errorf("/readyz says %q; want the reason", body)
	}
	httpGet(t, "http://"+d.httpAddr+"/healthz", http.StatusOK)
	if m := httpGet(t, "http://"+d.httpAddr+"/metrics", http.StatusOK); !strings.Contains(m, "kmsd_raft_has_leader 0") {
		t.Errorf("/metrics does not say the member has no leader")
	}
}

func httpGet(t *testing.T, url string, code int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != code {
		t.Fatalf("GET %s: %d %s, want %d", url, resp.StatusCode, b, code)
	}
	return string(b)
}
