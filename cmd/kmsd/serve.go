package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	clusterv1 "github.com/kmsd/kmsd/proto/kmsd/cluster/v1"
	"github.com/kmsd/kmsd/server"
)

// serve runs the daemon until ctx is done.
func serve(ctx context.Context, c Config) error {
	log := newLogger(c, os.Stderr)
	if err := prepareDataDir(c.DataDir); err != nil {
		return err
	}
	lock, err := lockDataDir(c.DataDir)
	if err != nil {
		return err
	}
	defer lock.Close()
	disk, err := newDiskGuard(c.DataDir, c.MinFreeDisk, log.With("component", "disk"))
	if err != nil {
		return err
	}
	go disk.run(ctx)
	root, err := loadRootKey(c, log)
	if err != nil {
		return err
	}
	if c.Dev {
		if err := writeDevCredentials(c.DataDir, root, log, os.Stdout); err != nil {
			return err
		}
	}
	store, err := keystore.Open(filepath.Join(c.DataDir, "state"), keystore.Options{Logger: log.With("component", "keystore"), Room: disk.Room})
	if err != nil {
		return err
	}
	defer store.Close()
	// The audit log follows the store from before the first entry is
	// applied, so its Merkle tree sees every record.
	auditLog, err := server.OpenAuditLog(store)
	if err != nil {
		return err
	}
	if c.InsecureNoAudit {
		log.Warn("the audit log is OFF (--insecure-no-audit): no request is recorded")
	}
	fwdAuth, err := server.NewForwardAuth(root)
	if err != nil {
		return err
	}
	peerTLS, err := loadTLS(c)
	if err != nil {
		return err
	}
	peers, advertise := clusterPeers(c)
	node, err := cluster.New(cluster.Config{
		Peers: peers, AdvertiseAddr: advertise, TLS: peerTLS,
		Forward: &cluster.ForwardConfig{Auth: fwdAuth},
		NodeID:  c.NodeID, BindAddr: c.RaftAddr, Dir: filepath.Join(c.DataDir, "raft"), Bootstrap: c.Join == "" && c.Bootstrap,
		APIAddr: c.GRPCAddr, NonVoter: c.NonVoter,
		SnapshotThreshold: c.SnapshotThreshold, SnapshotInterval: time.Duration(c.SnapshotInterval), TrailingLogs: c.TrailingLogs,
		HeartbeatTimeout: time.Duration(c.RaftTimeout), ElectionTimeout: time.Duration(c.RaftTimeout),
		LeaderLeaseTimeout: time.Duration(c.RaftTimeout) / 2, Logger: log, StorageCheck: disk.StorageCheck,
	}, store)
	if err != nil {
		return err
	}
	defer node.Shutdown()
	reg := newRegistry()
	srv, err := server.New(server.Config{
		Store: store, Proposer: node, RootKey: root, Region: c.Region, AccountID: c.AccountID,
		SchedulerInterval: time.Duration(c.SchedulerInterval), NodeID: c.NodeID,
		RotateAfterEncryptions: c.RotateAfterEncryptions, Logger: log.With("component", "server"),
		AuditLog: auditLog, AuditProposer: node, DisableAudit: c.InsecureNoAudit, Cluster: node, Reads: node,
		SpoolDir:          c.DataDir,
		Authenticate:      true,
		AuditSignInterval: time.Duration(c.AuditSignInterval),
		AuditRetention:    time.Duration(c.AuditRetention), AuditArchiveDir: archiveDir(c),
		RateLimits: c.rateLimits(), Connections: c.connLimits(), Metrics: reg, Raft: node, Storage: disk,
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmsd_data_dir_free_bytes",
		Help: "Free space on the data directory's file system (below --min-free-disk nothing is written)."},
		func() float64 { return float64(disk.free.Load()) }))
	return listenAndServe(ctx, c, log, srv, node, peerTLS, reg, disk)
}

// loadTLS reads the TLS settings; nil when there are none.
func loadTLS(c Config) (*cluster.TLSConfig, error) {
	if c.TLSCertFile == "" {
		return nil, nil
	}
	fi, err := os.Stat(c.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls_key_file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("tls_key_file %s is readable by others (mode %v); run: chmod 600 %s", c.TLSKeyFile, fi.Mode().Perm(), c.TLSKeyFile)
	}
	return cluster.LoadTLS(c.TLSCertFile, c.TLSKeyFile, c.TLSCAFile)
}

// listenAndServe opens the listeners and serves until ctx is done, then
// stops gracefully.
func listenAndServe(ctx context.Context, c Config, log *slog.Logger, srv *server.Server, node *cluster.Node, tlsConf *cluster.TLSConfig, reg *prometheus.Registry, disk *diskGuard) error {
	glis, err := net.Listen("tcp", c.GRPCAddr)
	if err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	hlis, err := net.Listen("tcp", c.HTTPAddr)
	if err != nil {
		glis.Close()
		return fmt.Errorf("http listener: %w", err)
	}
	g := newGRPCServer(srv, tlsConf, c.Dev)
	clusterv1.RegisterForwardServiceServer(g, node.ForwardServer())
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	ready := &readiness{node: node, rootKey: srv, disk: disk, health: hs, metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{})}
	mux := ready.mux()
	if err := handleAWS(mux, c, srv, log); err != nil {
		glis.Close()
		hlis.Close()
		return err
	}
	// The AWS API reads bodies of at most 256 KiB: a client slower than
	// ReadTimeout is cut off rather than holding a handler.
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	go func() { errc <- g.Serve(srv.Listener(glis)) }()
	go func() { errc <- httpSrv.Serve(httpListener(hlis, tlsConf)) }()
	go srv.RunScheduler(ctx)
	if c.Join != "" && node.NeedsJoin() {
		go joinCluster(ctx, log, node, c.Join)
	}
	go ready.watch(ctx)
	log.Info("kmsd started", "grpc_addr", glis.Addr().String(), "http_addr", hlis.Addr().String(),
		"raft_addr", c.RaftAddr, "node_id", c.NodeID, "data_dir", c.DataDir, "dev", c.Dev, "tls", tlsConf != nil)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("shutting down")
	hs.Shutdown()
	// Ends the audit tails and waits for the calls in progress, so the
	// graceful stop does not wait on streams that never end.
	srv.Close()
	stopGRPC(g, 10*time.Second)
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer shutCancel()
	httpSrv.Shutdown(shutCtx)
	if errors.Is(serveErr, http.ErrServerClosed) || errors.Is(serveErr, grpc.ErrServerStopped) {
		serveErr = nil
	}
	return serveErr
}

func newGRPCServer(srv *server.Server, tlsConf *cluster.TLSConfig, dev bool) *grpc.Server {
	opts := srv.ServerOptions()
	if tlsConf != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConf.APIConfig())))
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
	if dev {
		// Reflection answers without credentials: for development only.
		reflection.Register(g)
	}
	return g
}

// stopGRPC lets in-flight calls finish, for at most d.
func stopGRPC(g *grpc.Server, d time.Duration) {
	done := make(chan struct{})
	go func() { g.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		g.Stop()
	}
}

// readiness reports whether this node can serve: it is ready when the
// cluster has a leader, this node holds the cluster's root key and its
// data directory has room (diskguard.go). The
// gRPC health service and /readyz answer from the same check: every check,
// periodic or asked for by /readyz, sets the health service's status.
type readiness struct {
	node    *cluster.Node
	rootKey interface{ RootKeyReady() error }
	disk    interface{ StorageCheck() error }
	health  *health.Server
	metrics http.Handler
}

// check returns why this node is not ready, or nil.
func (r *readiness) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if r.node.WaitForLeader(ctx) != nil {
		return errors.New("no Raft leader")
	}
	if err := r.rootKey.RootKeyReady(); err != nil {
		return err
	}
	if r.disk != nil {
		if err := r.disk.StorageCheck(); err != nil {
			return errors.New("the data directory is nearly full (below --min-free-disk)")
		}
	}
	return nil
}

// update checks readiness and sets the health service's status from it.
func (r *readiness) update(ctx context.Context) error {
	err := r.check(ctx)
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if err == nil {
		st = healthpb.HealthCheckResponse_SERVING
	}
	r.health.SetServingStatus("", st)
	r.health.SetServingStatus(kmsv1.KeyManagementService_ServiceDesc.ServiceName, st)
	return err
}

// watch keeps the gRPC health service in step with readiness.
func (r *readiness) watch(ctx context.Context) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		r.update(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *readiness) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, req *http.Request) {
		if err := r.update(req.Context()); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		leader, _ := r.node.Leader()
		fmt.Fprintf(w, "ready; leader %s\n", leader)
	})
	mux.Handle("GET /metrics", r.metrics)
	return mux
}

// archiveDir is where archived audit records go.
func archiveDir(c Config) string {
	if c.AuditArchiveDir != "" {
		return c.AuditArchiveDir
	}
	return filepath.Join(c.DataDir, "audit-archive")
}

// clusterPeers turns the peers setting into the cluster's peers, and
// returns this node's Raft address as the others know it.
func clusterPeers(c Config) ([]cluster.Peer, string) {
	var peers []cluster.Peer
	advertise := ""
	for _, e := range c.Peers {
		id, raftAddr, grpcAddr, _ := parsePeer(e) // validated with the config
		peers = append(peers, cluster.Peer{ID: id, Addr: raftAddr, APIAddr: grpcAddr})
		if id == c.NodeID {
			advertise = raftAddr
		}
	}
	return peers, advertise
}

// joinCluster asks the member at target to add this node, until it is
// added or ctx ends.
func joinCluster(ctx context.Context, log *slog.Logger, node *cluster.Node, target string) {
	for delay := 500 * time.Millisecond; ; delay = min(2*delay, 10*time.Second) {
		err := node.Join(ctx, target)
		if err == nil {
			log.Info("joined the cluster", "via", target)
			return
		}
		log.Warn("joining the cluster failed; will retry", "via", target, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}
