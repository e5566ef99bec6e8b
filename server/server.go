package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Store is the read side of the key store. Every method answers from
// memory; none of them waits on the Raft log.
type Store interface {
	// Key returns the key with the given id, or keystore.ErrNotFound.
	Key(id string) (*keystore.Key, error)
	// Keys returns one page of keys sorted by id; a bad marker is
	// keystore.ErrInvalidMarker.
	Keys(limit int, marker string) ([]*keystore.Key, string, error)
	// Alias returns the alias with the given name, or keystore.ErrNotFound.
	Alias(name string) (*keystore.Alias, error)
	// Aliases returns one page of aliases (of one key when keyID is set).
	Aliases(keyID string, limit int, marker string) ([]*keystore.Alias, string, error)
	// DueForDeletion lists keys whose deletion date has passed.
	DueForDeletion(now time.Time) []string
	// DueForRotation lists the rotations due at now (and, when usageLimit
	// is above zero, those due by usage).
	DueForRotation(now time.Time, usageLimit uint64) []keystore.RotationDue
	// UsageSeq returns the number of the last usage batch of node applied.
	UsageSeq(node string) uint64
	// ImportParams returns stored import parameters, or keystore.ErrNotFound.
	ImportParams(wrappingKeyID string) (*keystore.ImportParams, error)
	// DueForExpiry lists imported material whose ValidTo has passed.
	DueForExpiry(now time.Time) []keystore.ExpiryDue
}

// ReadBarrier waits until this member holds every mutation acknowledged
// before the call, by any member (cluster.Node.ReadBarrier).
type ReadBarrier interface {
	ReadBarrier(ctx context.Context) error
}

// StorageCheck reports whether this member's data directory has room for
// more writes: nil, or cluster.ErrStorageFull.
type StorageCheck interface {
	StorageCheck() error
}

// Proposer replicates mutations of the key store.
type Proposer interface {
	// ApplyMutation commits m and returns its outcome: nil, a keystore
	// error (the mutation changed nothing), or a cluster error (the outcome
	// may be unknown).
	ApplyMutation(ctx context.Context, m *keystore.Mutation) error
	// IsLeader reports whether this node may propose scheduled actions.
	IsLeader() bool
}

// Config configures a Server. The zero values of optional fields are
// documented defaults.
type Config struct {
	Store    Store
	Proposer Proposer
	// RootKey wraps every key version's material.
	RootKey envelope.Key
	// Region and AccountID form ARNs. Defaults: DefaultRegion, DefaultAccountID.
	Region    string
	AccountID string
	// SchedulerInterval is how often the leader looks for due deletions.
	// Default one minute.
	SchedulerInterval time.Duration
	// MutationTimeout bounds every wait on the Raft log. Default 10 s.
	MutationTimeout time.Duration
	// NodeID names this node in usage reports. Default "kmsd-1".
	NodeID string
	// UsageReportInterval is how often encryption counts are committed.
	// Default 1 s.
	UsageReportInterval time.Duration
	// RotateAfterEncryptions, when above zero, limits every key material to
	// that many encryptions: uses are allotted to nodes through the log
	// before they encrypt, and the key is rotated as soon as its current
	// material has none left (a key of imported material then refuses to
	// encrypt). See budget.go. Default 0: off.
	RotateAfterEncryptions uint64
	// AuditLog follows the audit log and AuditProposer commits to it.
	// Both are required unless DisableAudit is set: every request to the
	// KeyManagementService and AuditService is acknowledged only once its
	// record is committed.
	AuditLog      *AuditLog
	AuditProposer AuditProposer
	// DisableAudit runs without an audit log: no request is recorded and
	// AuditService answers nothing. It exists to measure the audit log's
	// cost; never use it in production.
	DisableAudit bool
	// AuditSignInterval is how often the leader signs a tree head over the
	// records added since the last one. Default one minute.
	AuditSignInterval time.Duration
	// AuditRetention, when above zero, is how long audit records are kept:
	// older ones are written to export files in AuditArchiveDir (required
	// then) and removed, one signed head's interval at a time. The signed
	// heads stay, so the records left still verify. Default 0: keep all.
	AuditRetention  time.Duration
	AuditArchiveDir string
	// Cluster, if set, answers kms.v1.ClusterService.
	Cluster ClusterInfo
	// SpoolDir is where a backup being restored is kept until it is
	// checked (restore.go): the data directory, whose free space is
	// watched. Empty: this server does not restore backups.
	SpoolDir string
	// Authenticate makes every call to kmsd's services require a signed
	// request (see authn.go); kmsd always sets it. Off, every call acts as
	// the account root (tests of the layers below authentication).
	Authenticate bool
	// Reads, if set, runs before every KeyManagementService call, so that
	// the call sees every mutation acknowledged before it by any member
	// (read-your-writes across members). Nil: calls read this member's
	// state as it is (a cluster of one, or tests).
	Reads ReadBarrier
	// Storage, if set, is asked before every call that would write (every
	// audited call writes its record): an error (cluster.ErrStorageFull)
	// refuses the call before anything is done or recorded.
	Storage StorageCheck
	// RateLimits are the request quotas (ratelimit.go); kmsd sets
	// DefaultRateLimits unless configured otherwise. Zero: no quota.
	RateLimits RateLimits
	// Connections bound the gRPC connections (ServerOptions, Listener).
	// Zero fields: DefaultConnLimits.
	Connections ConnLimits
	// Metrics, if set, receives the server's Prometheus metrics
	// (metrics.go); with Raft set, the node's Raft numbers too.
	Metrics prometheus.Registerer
	Raft    RaftMetrics
	// Rand and Now default to crypto/rand and time.Now.
	Rand   io.Reader
	Now    func() time.Time
	Logger *slog.Logger
}

// Defaults for the ARN fields.
const (
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "111122223333"
)

// Server implements kms.v1.KeyManagementService.
type Server struct {
	kmsv1.UnimplementedKeyManagementServiceServer

	store     Store
	proposer  Proposer
	rootKey   envelope.Key
	region    string
	accountID string
	arnPrefix string
	interval  time.Duration
	timeout   time.Duration
	rand      io.Reader
	now       func() time.Time
	log       *slog.Logger
	materials *materialCache
	nodeID    string
	usageTick time.Duration
	usageMax  uint64
	usage     usageCounter
	budgets   useBudgets
	reporter  usageReporter
	audit     *AuditLog
	auditW    *auditWriter
	auditP    AuditProposer
	// auditSync, if set, acknowledges records once committed; readers of
	// the log pass its AuditBarrier first.
	auditSync auditCommitter
	signEvery time.Duration
	signer    signer
	// signKick asks the scheduler to sign a head now: maxHeadLeaves
	// records have been added since the last one.
	signKick chan struct{}
	// headSize is the size of the newest head this node signed or saw.
	headSize   atomic.Uint64
	retention  time.Duration
	archiveDir string
	// macKey authenticates the records this node writes (auditmac.go).
	macKey   []byte
	cluster  ClusterInfo
	spoolDir string
	reads    ReadBarrier
	storage  StorageCheck
	// calls counts the handlers running, so Close can wait for them.
	calls inflight
	auth  *authenticator
	// Authorization (authz.go): the default key policy (of keys made
	// without a policy of their own; keypolicy.go), the identities'
	// policies, and parsed policies.
	keyPolicy  *iam.Policy
	identities identityReader
	policies   policyCache
	// Limits (ratelimit.go, connlimits.go) and metrics (metrics.go);
	// limits and metrics are nil when off.
	limits  *limiter
	conns   ConnLimits
	metrics *metrics
	guard   *resetGuard
	// rootReady is set once RootKeyReady has seen the root key unwrap
	// stored material (readiness.go).
	rootReady atomic.Bool
}

var _ kmsv1.KeyManagementServiceServer = (*Server)(nil)

// New returns a Server for cfg.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Proposer == nil {
		return nil, errors.New("server: Store and Proposer are required")
	}
	if !cfg.DisableAudit && (cfg.AuditLog == nil || cfg.AuditProposer == nil) {
		return nil, errors.New("server: AuditLog and AuditProposer are required unless DisableAudit is set")
	}
	if cfg.AuditRetention > 0 && cfg.AuditArchiveDir == "" {
		return nil, errors.New("server: AuditRetention needs an AuditArchiveDir")
	}
	s := &Server{
		store:     cfg.Store,
		proposer:  cfg.Proposer,
		rootKey:   cfg.RootKey,
		region:    orDefault(cfg.Region, DefaultRegion),
		accountID: orDefault(cfg.AccountID, DefaultAccountID),
		interval:  cfg.SchedulerInterval,
		timeout:   cfg.MutationTimeout,
		rand:      cfg.Rand,
		now:       cfg.Now,
		log:       cfg.Logger,
		nodeID:    orDefault(cfg.NodeID, "kmsd-1"),
		usageTick: cfg.UsageReportInterval,
		usageMax:  cfg.RotateAfterEncryptions,
	}
	if s.usageTick <= 0 {
		s.usageTick = time.Second
	}
	if s.interval <= 0 {
		s.interval = time.Minute
	}
	if s.timeout <= 0 {
		s.timeout = 10 * time.Second
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.arnPrefix = "arn:aws:kms:" + s.region + ":" + s.accountID + ":"
	s.materials = newMaterialCache(cfg.RootKey)
	s.signEvery = cfg.AuditSignInterval
	if s.signEvery <= 0 {
		s.signEvery = time.Minute
	}
	s.signKick = make(chan struct{}, 1)
	if !cfg.DisableAudit {
		k, err := deriveRecordMACKey(cfg.RootKey.Bytes())
		if err != nil {
			return nil, err
		}
		s.macKey = k
	}
	s.retention, s.archiveDir = cfg.AuditRetention, cfg.AuditArchiveDir
	s.cluster, s.reads, s.storage, s.spoolDir = cfg.Cluster, cfg.Reads, cfg.Storage, cfg.SpoolDir
	if cfg.Authenticate {
		a, err := newAuthenticator(cfg.RootKey, s.accountID, s.now)
		if err != nil {
			return nil, err
		}
		s.auth = a
		if s.keyPolicy, err = iam.Parse([]byte(iam.DefaultKeyPolicy(s.accountID)), iam.KeyPolicy); err != nil {
			return nil, err
		}
		s.identities, _ = cfg.Store.(identityReader)
		if ids, ok := s.identityStore(); ok {
			a.users, a.secret = ids, s.accessKeySecret
			decoy, _, err := s.newAccessKey("decoy")
			if err != nil {
				return nil, err
			}
			a.decoy = *decoy // unwraps like a real key; its id is in no store
			a.decoyUser = keystore.UserRef{UserName: "decoy", UserID: "AIDADECOYDECOYDECOY00", Arn: "arn:aws:iam::" + s.accountID + ":user/decoy"}
			a.sessions = s.session
		}
	}
	if !cfg.DisableAudit {
		s.audit, s.auditP = cfg.AuditLog, cfg.AuditProposer
		s.auditSync, _ = cfg.AuditProposer.(auditCommitter)
		s.auditW = newAuditWriter(cfg.AuditProposer, s.mutationContext)
		s.auditW.committed = s.maybeKickSigner
	}
	s.limits, s.conns = newLimiter(cfg.RateLimits), cfg.Connections.withDefaults()
	s.guard = newResetGuard(s.log)
	if cfg.Metrics != nil {
		if err := s.registerMetrics(cfg.Metrics, cfg.Raft); err != nil {
			return nil, fmt.Errorf("server: metrics: %w", err)
		}
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Register registers the services on g: KeyManagementService,
// IdentityManagementService when the store keeps identities (see
// IdentityStore), AuditService unless the audit log is disabled, and
// ClusterService when Config.Cluster is set.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	kmsv1.RegisterKeyManagementServiceServer(g, s)
	s.registerIdentity(g)
	if s.audit != nil {
		kmsv1.RegisterAuditServiceServer(g, &auditService{s: s})
	}
	if s.cluster != nil {
		kmsv1.RegisterClusterServiceServer(g, &clusterService{info: s.cluster, audit: s.audit, srv: s})
	}
}

// Close stops the audit writers once the records being written are
// committed. Call it after the gRPC server has stopped.
func (s *Server) Close() {
	s.calls.close(s.log)
	if s.auditW != nil {
		s.auditW.close()
	}
}

// mutationContext bounds a wait on the Raft log.
func (s *Server) mutationContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// propose commits m with the server's timeout.
func (s *Server) propose(ctx context.Context, m *keystore.Mutation) error {
	ctx, cancel := s.mutationContext(ctx)
	defer cancel()
	return s.proposer.ApplyMutation(ctx, m)
}
