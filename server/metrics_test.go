package server

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// fakeRaft reports fixed Raft numbers.
type fakeRaft struct{ m cluster.Metrics }

func (f fakeRaft) Metrics() cluster.Metrics { return f.m }

// metricsHarness is a server whose metrics are served over HTTP.
type metricsHarness struct {
	*harness
	url string
}

func newMetricsHarness(t *testing.T) *metricsHarness {
	reg := prometheus.NewRegistry()
	h := newHarnessTB(t, func(c *Config) {
		c.Metrics = reg
		c.Raft = fakeRaft{cluster.Metrics{State: "Follower", HasLeader: true, Term: 7, LastLogIndex: 120,
			CommitIndex: 115, AppliedIndex: 111, StoreAppliedIndex: 110, SnapshotThreshold: 20000}}
	})
	hs := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(hs.Close)
	return &metricsHarness{harness: h, url: hs.URL}
}

// scrape returns the body of /metrics and its samples by series
// ("name{label="value",...}").
func (m *metricsHarness) scrape(t *testing.T) (string, map[string]float64) {
	t.Helper()
	resp, err := http.Get(m.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	samples := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	return string(body), samples
}

// TestMetricsCountCalls: after a known set of calls, the request counters
// and latency histograms moved by exactly those calls, and the key, audit
// and Raft series say what the server holds.
func TestMetricsCountCalls(t *testing.T) {
	m := newMetricsHarness(t)
	ctx := context.Background()
	_, before := m.scrape(t)
	key := m.createKey(t)
	var blob []byte
	for range 3 {
		resp, err := m.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: key.GetKeyId(), Plaintext: []byte("p")})
		if err != nil {
			t.Fatal(err)
		}
		blob = resp.GetCiphertextBlob()
	}
	for range 2 {
		if _, err := m.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := m.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: append(blob[:len(blob)-1:len(blob)-1], blob[len(blob)-1]^1)})
	wantException(t, err, excInvalidCiphertxt)
	_, err = m.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: "00000000-0000-0000-0000-000000000000"})
	wantException(t, err, excNotFound)
	if _, err := m.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: key.GetKeyId()}); err != nil {
		t.Fatal(err)
	}
	m.createKey(t)
	_, after := m.scrape(t)

	delta := func(series string) float64 { return after[series] - before[series] }
	for series, want := range map[string]float64{
		`kmsd_requests_total{operation="CreateKey",result="ok"}`:                        2,
		`kmsd_requests_total{operation="Encrypt",result="ok"}`:                          3,
		`kmsd_requests_total{operation="Decrypt",result="ok"}`:                          2,
		`kmsd_requests_total{operation="Decrypt",result="InvalidCiphertextException"}`:  1,
		`kmsd_requests_total{operation="DisableKey",result="NotFoundException"}`:        1,
		`kmsd_requests_total{operation="DisableKey",result="ok"}`:                       1,
		`kmsd_request_duration_seconds_count{operation="Encrypt"}`:                      3,
		`kmsd_request_duration_seconds_count{operation="Decrypt"}`:                      3,
		`kmsd_request_duration_seconds_bucket{operation="Decrypt",le="+Inf"}`:           3,
		`kmsd_requests_total{operation="Encrypt",result="InvalidCiphertextException"}`:  0,
		`kmsd_throttled_requests_total{quota="crypto"}`:                                 0,
		`kmsd_requests_total{operation="GenerateRandom",result="ok"}`:                   0,
		`kmsd_requests_total{operation="other",result="ok"}`:                            0,
		`kmsd_audit_commit_failures_total`:                                              0,
		`kmsd_requests_in_flight`:                                                       0,
		`kmsd_audit_queue_records`:                                                      0,
		`kmsd_grpc_flood_refused_connections_total`:                                     0,
		`kmsd_keys{state="Enabled"}`:                                                    1,
		`kmsd_keys{state="Disabled"}`:                                                   1,
		`kmsd_keys{state="PendingDeletion"}`:                                            0,
		`kmsd_key_version_encryptions_count`:                                            2,
		`kmsd_raft_state{state="Follower"}`:                                             0, // constant: no change
		`kmsd_raft_apply_lag_entries`:                                                   0,
		`kmsd_requests_total{operation="DisableKey",result="KMSInvalidStateException"}`: 0,
	} {
		if got := delta(series); got != want {
			t.Errorf("%s moved by %v, want %v", series, got, want)
		}
	}
	for _, series := range []string{`kmsd_grpc_flood_refused_connections_total`, `kmsd_grpc_flood_held_connections`} {
		if _, ok := after[series]; !ok {
			t.Error("no " + series)
		}
	}
	for series, want := range map[string]float64{
		`kmsd_raft_state{state="Follower"}`: 1, `kmsd_raft_state{state="Leader"}`: 0, `kmsd_raft_has_leader`: 1,
		`kmsd_raft_term`: 7, `kmsd_raft_commit_index`: 115, `kmsd_raft_applied_index`: 110,
		`kmsd_raft_commit_lag_entries`: 5, `kmsd_raft_apply_lag_entries`: 5, `kmsd_raft_last_log_index`: 120,
		`kmsd_raft_snapshot_threshold_entries`: 20000,
	} {
		if got := after[series]; got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Every call's record was committed: 10 records, in at most 10 batches.
	if n := delta("kmsd_audit_commit_records_sum"); n != 10 {
		t.Errorf("audit batches held %v records, want 10", n)
	}
	if n := delta("kmsd_audit_commit_duration_seconds_count"); n < 1 || n > 10 {
		t.Errorf("%v audit commits timed for 10 records", n)
	}
}

// TestMetricsHoldNoSecrets: after encryptions of a known plaintext and a
// data key, no metric name, label or value holds the plaintext, the data
// key, the key's material (in any of several encodings) or the key id.
func TestMetricsHoldNoSecrets(t *testing.T) {
	m := newMetricsHarness(t)
	ctx := context.Background()
	key := m.createKey(t)
	plaintext := []byte("metrics-canary-7f3a9c PLAINTEXT")
	if _, err := m.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: key.GetKeyId(), Plaintext: plaintext,
		EncryptionContext: map[string]string{"purpose": "canary"}}); err != nil {
		t.Fatal(err)
	}
	dk, err := m.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: key.GetKeyId(), NumberOfBytes: 32})
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: plaintext})
	wantException(t, err, excInvalidCiphertxt)
	k, err := m.store.Key(key.GetKeyId())
	if err != nil {
		t.Fatal(err)
	}
	mat, err := unwrapVersion(m.srv.rootKey, k.ID, k.Versions[0])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := m.scrape(t)
	if !strings.Contains(body, `kmsd_requests_total{operation="GenerateDataKey",result="ok"} 1`) {
		t.Fatalf("the scrape lacks the GenerateDataKey call (positive control):\n%s", body)
	}
	secrets := map[string][]byte{"plaintext": plaintext, "data key": dk.GetPlaintext(), "key material": mat.key.Bytes(),
		"root key": m.srv.rootKey.Bytes(), "ciphertext": dk.GetCiphertextBlob()}
	for name, s := range secrets {
		for enc, v := range map[string]string{"raw": string(s), "hex": hex.EncodeToString(s),
			"HEX": strings.ToUpper(hex.EncodeToString(s)), "base64": base64.StdEncoding.EncodeToString(s),
			"base64url": base64.RawURLEncoding.EncodeToString(s), "quoted": strconv.Quote(string(s))} {
			if strings.Contains(body, v) {
				t.Errorf("the metrics hold the %s (%s)", name, enc)
			}
		}
	}
	for _, s := range []string{key.GetKeyId(), "canary", "purpose"} {
		if strings.Contains(body, s) {
			t.Errorf("the metrics hold %q", s)
		}
	}
}

// TestMetricLabelsFixed: operation labels are kmsd's methods or "other",
// and every exception name the server's sources answer is a result label.
func TestMetricLabelsFixed(t *testing.T) {
	for method, want := range map[string]string{
		"/kms.v1.KeyManagementService/Encrypt": "Encrypt", "/kms.v1.AuditService/TailEvents": "TailEvents",
		"/kms.v1.KeyManagementService/Bogus": "other", "/x.Y/Encrypt": "other", "": "other",
		"/kmsd.cluster.v1.ForwardService/Apply": "other",
	} {
		if got := operationLabel(method); got != want {
			t.Errorf("operationLabel(%q) = %q, want %q", method, got, want)
		}
	}
	for _, c := range []struct {
		err  error
		want string
	}{
		{nil, "ok"},
		{withReason(codes.NotFound, excNotFound, "x"), excNotFound},
		{errThrottledStatus(), excThrottling},
		{withReason(codes.Aborted, "", "x"), "Aborted"},
		{withReason(codes.Aborted, "ValidationException; x", "x"), "Aborted"},
		{withReason(codes.Aborted, "validationException", "x"), "Aborted"},
		{withReason(codes.Aborted, strings.Repeat("A", 70)+"Exception", "x"), "Aborted"},
		{errors.New("plain"), "Unknown"},
	} {
		if got := resultLabel(c.err); got != c.want {
			t.Errorf("resultLabel(%v) = %q, want %q", c.err, got, c.want)
		}
	}
	// Every exception name in the server's code is a label.
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	exc := regexp.MustCompile(`"([A-Za-z]+Exception)"`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range exc.FindAllStringSubmatch(string(b), -1) {
			if !strings.HasSuffix(f, "_test.go") && !exceptionLabel.MatchString(m[1]) {
				t.Errorf("%s answers %s, which would not be a result label", f, m[1])
			}
		}
	}
}

func errThrottledStatus() error {
	return toStatus(context.Background(), discardLogger, "/m", errThrottled)
}

var _ keyStats = (*keystore.Store)(nil)
var _ RaftMetrics = (*cluster.Node)(nil)
