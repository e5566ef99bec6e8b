package server

import (
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Metrics. With Config.Metrics set, the server registers its metrics
// there, every name prefixed kmsd_:
//
//	kmsd_requests_total{operation,result}      calls answered; result is "ok" or the exception name
//	kmsd_requests_in_flight                    calls being handled
//	kmsd_request_duration_seconds{operation}   time to answer, audit record included
//	kmsd_throttled_requests_total{quota}       calls refused over a quota (crypto, read, mutation)
//	kmsd_grpc_reset_flood_closes_total         connections closed for cancelling most calls (rapid reset)
//	kmsd_grpc_flood_refused_connections_total  connections refused because their address flooded
//	kmsd_grpc_flood_held_connections           refused connections held open until the penalty ends
//	kmsd_audit_queue_records                   audit records waiting for their commit
//	kmsd_audit_commit_duration_seconds         time to make one audit batch durable (Raft commit, fsync)
//	kmsd_audit_commit_records                  records per audit batch
//	kmsd_audit_commit_failures_total           audit batches that could not be made durable
//	kmsd_keys{state}                           keys by state
//	kmsd_key_version_encryptions               histogram over key versions of the encryptions each made
//	kmsd_key_version_encryptions_max           the most encryptions made by one key version
//	kmsd_raft_*                                Raft state, term, indexes and lags (Config.Raft)
//
// Labels come from fixed sets: operation is a method of kmsd's services
// ("other" for anything else) and result one of the exception names the
// server's code answers ("ok" on success; a gRPC code name otherwise). No
// label carries a key id, a principal or any request data. Per-version
// usage is a histogram over versions rather than one series per version,
// so a million keys make the same dozen series as one; the most-used
// version's count is the number a per-material limit is checked against.
type metrics struct {
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	throttled   *prometheus.CounterVec
	auditCommit prometheus.Histogram
	auditBatch  prometheus.Histogram
	auditFailed prometheus.Counter

	// children and latencies cache the series of each operation (and
	// result), so counting a call looks up no labels.
	children  sync.Map // [2]string -> prometheus.Counter
	latencies sync.Map // string -> prometheus.Observer
}

// latencyBuckets span a cached decryption to a mutation waiting on a slow
// Raft commit (seconds).
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kmsd_requests_total",
			Help: "Calls answered, by operation and result (ok or the exception name)."}, []string{"operation", "result"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kmsd_request_duration_seconds",
			Help: "Time to answer a call, its audit record included, by operation.", Buckets: latencyBuckets}, []string{"operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kmsd_throttled_requests_total",
			Help: "Calls refused with ThrottlingException, by quota (crypto, read, mutation, global)."}, []string{"quota"}),
		auditCommit: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kmsd_audit_commit_duration_seconds",
			Help: "Time to make one batch of audit records durable (Raft commit, fsync included).", Buckets: latencyBuckets}),
		auditBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kmsd_audit_commit_records",
			Help: "Audit records per committed batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		auditFailed: prometheus.NewCounter(prometheus.CounterOpts{Name: "kmsd_audit_commit_failures_total",
			Help: "Audit batches that could not be made durable (their calls failed)."}),
	}
}

// register registers the request and audit metrics and the collectors of
// s's state on reg.
func (s *Server) registerMetrics(reg prometheus.Registerer, raft RaftMetrics) error {
	m := newMetrics()
	cs := []prometheus.Collector{m.requests, m.latency, m.throttled, m.auditCommit, m.auditBatch, m.auditFailed,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmsd_requests_in_flight",
			Help: "Calls being handled."}, func() float64 { n, _ := s.calls.load(); return float64(n) }),
	}
	if w := s.auditW; w != nil {
		cs = append(cs, prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmsd_audit_queue_records",
			Help: "Audit records waiting for their batch to be committed."}, func() float64 { return float64(w.waiting.Load()) }))
		w.observe = m.observeAuditCommit
	}
	resets := prometheus.NewCounter(prometheus.CounterOpts{Name: "kmsd_grpc_reset_flood_closes_total",
		Help: "Connections closed because their client cancelled most calls it opened (rapid reset)."})
	g := s.guard
	cs = append(cs, resets, prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmsd_grpc_flood_refused_connections_total",
		Help: "Connections refused because their address had flooded (rapid reset) shortly before."},
		func() float64 { return float64(g.refused.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmsd_grpc_flood_held_connections",
			Help: "Refused connections held open, unread, until their address's penalty ends."},
			func() float64 { return float64(g.heldConns()) }))
	s.guard.closed = resets.Inc
	if ks, ok := s.store.(keyStats); ok {
		cs = append(cs, &keyCollector{store: ks})
	}
	if raft != nil {
		cs = append(cs, &raftCollector{node: raft})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	s.metrics = m
	return nil
}

// observe counts one answered call of method.
func (m *metrics) observe(method string, start time.Time, err error) {
	if m == nil {
		return
	}
	op := operationLabel(method)
	res := resultLabel(err)
	c, ok := m.children.Load([2]string{op, res})
	if !ok {
		c, _ = m.children.LoadOrStore([2]string{op, res}, m.requests.WithLabelValues(op, res))
	}
	c.(prometheus.Counter).Inc()
	o, ok := m.latencies.Load(op)
	if !ok {
		o, _ = m.latencies.LoadOrStore(op, m.latency.WithLabelValues(op))
	}
	o.(prometheus.Observer).Observe(time.Since(start).Seconds())
	if res == excThrottling {
		m.throttled.WithLabelValues(quotaLabel(method)).Inc()
	}
}

func (m *metrics) observeAuditCommit(d time.Duration, records int, err error) {
	if err != nil {
		m.auditFailed.Inc()
		return
	}
	m.auditCommit.Observe(d.Seconds())
	m.auditBatch.Observe(float64(records))
}

// operations are the method names that may label a metric.
var operations = func() map[string]bool {
	ops := map[string]bool{}
	for _, sd := range []*grpc.ServiceDesc{&kmsv1.KeyManagementService_ServiceDesc, &kmsv1.AuditService_ServiceDesc,
		&kmsv1.ClusterService_ServiceDesc, &kmsv1.IdentityManagementService_ServiceDesc, &kmsv1.SecurityTokenService_ServiceDesc} {
		for _, m := range sd.Methods {
			ops[m.MethodName] = true
		}
		for _, st := range sd.Streams {
			ops[st.StreamName] = true
		}
	}
	return ops
}()

// operationLabel returns the method's name if it is one of kmsd's, else
// "other".
func operationLabel(method string) string {
	name := method[strings.LastIndexByte(method, '/')+1:]
	if operations[name] && strings.HasPrefix(method, "/kms.v1.") {
		return name
	}
	return "other"
}

// quotaLabel names the quota a throttled call of method was over.
func quotaLabel(method string) string {
	switch classOf(method[strings.LastIndexByte(method, '/')+1:]) {
	case quotaCrypto:
		return "crypto"
	case quotaRead:
		return "read"
	}
	return "mutation"
}

// exceptionLabel matches the exception names a result label may hold.
// Exception names are constants of the server's code, never made from a
// request, so the set of labels is the fixed set the code answers; the
// pattern keeps anything else (a gRPC status from elsewhere) out.
var exceptionLabel = regexp.MustCompile(`^[A-Z][A-Za-z]{1,60}Exception$`)

// resultLabel is "ok", the call's exception name, or its gRPC code's name.
func resultLabel(err error) string {
	if err == nil {
		return "ok"
	}
	if n := ExceptionName(err); exceptionLabel.MatchString(n) {
		return n
	}
	if st, ok := status.FromError(err); ok {
		return st.Code().String()
	}
	return codes.Unknown.String()
}
