package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

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
