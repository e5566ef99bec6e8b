package server

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/keystore"
)

// RaftMetrics reports a node's Raft numbers (cluster.Node.Metrics).
type RaftMetrics interface {
	Metrics() cluster.Metrics
}

// keyStats summarizes the stored keys (keystore.Store.Stats).
type keyStats interface {
	Stats() keystore.Stats
}

// keyStates are the states kmsd_keys reports, each always present.
var keyStates = []keystore.State{keystore.Enabled, keystore.Disabled, keystore.PendingDeletion, keystore.PendingImport}

// usageBuckets bound the histogram of encryptions per key version: up to
// 2^32, the count past which one AES-GCM key with random nonces must not
// go (kmsd derives a key per request, so this is for information).
var usageBuckets = []float64{0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1 << 32}

var (
	keysDesc = prometheus.NewDesc("kmsd_keys", "Keys by state.", []string{"state"}, nil)
	usesDesc = prometheus.NewDesc("kmsd_key_version_encryptions",
		"Encryptions made by each key version (material), as reported through the log: a histogram over versions.", nil, nil)
	usesMaxDesc = prometheus.NewDesc("kmsd_key_version_encryptions_max",
		"The most encryptions reported for one key version.", nil, nil)
)

// keyCollector reports the key counts and usage at each scrape.
type keyCollector struct {
	store keyStats
}

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- keysDesc
	ch <- usesDesc
	ch <- usesMaxDesc
}

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.store.Stats()
	for _, s := range keyStates {
		ch <- prometheus.MustNewConstMetric(keysDesc, prometheus.GaugeValue, float64(st.KeysByState[s]), string(s))
	}
	buckets := make(map[float64]uint64, len(usageBuckets))
	var sum float64
	for _, n := range st.VersionEncryptions {
		sum += float64(n)
		for _, b := range usageBuckets {
			if float64(n) <= b {
				buckets[b]++
			}
		}
	}
	ch <- prometheus.MustNewConstHistogram(usesDesc, uint64(len(st.VersionEncryptions)), sum, buckets)
	ch <- prometheus.MustNewConstMetric(usesMaxDesc, prometheus.GaugeValue, float64(slices.Max(append(st.VersionEncryptions, 0))))
}

var (
	raftStateDesc = prometheus.NewDesc("kmsd_raft_state",
		"1 for this node's Raft state (Leader, Follower, Candidate, Shutdown), 0 for the others.", []string{"state"}, nil)
	raftLeaderDesc = prometheus.NewDesc("kmsd_raft_has_leader", "1 if this node knows of a leader.", nil, nil)
	raftTermDesc   = prometheus.NewDesc("kmsd_raft_term", "The current Raft term.", nil, nil)
	raftLastDesc   = prometheus.NewDesc("kmsd_raft_last_log_index", "The last entry of this node's Raft log.", nil, nil)
	raftCommitDesc = prometheus.NewDesc("kmsd_raft_commit_index", "The last Raft entry this node knows to be committed.", nil, nil)
	raftApplyDesc  = prometheus.NewDesc("kmsd_raft_applied_index", "The last Raft entry applied to the key store.", nil, nil)
	raftCLagDesc   = prometheus.NewDesc("kmsd_raft_commit_lag_entries",
		"Entries in this node's log not known to be committed (last log index - commit index).", nil, nil)
	raftALagDesc = prometheus.NewDesc("kmsd_raft_apply_lag_entries",
		"Committed entries not applied to the key store yet (commit index - applied index).", nil, nil)
	raftContactDesc = prometheus.NewDesc("kmsd_raft_last_contact_seconds",
		"Seconds since a follower last heard from its leader (0 on the leader, -1 never).", nil, nil)
	raftSnapDesc = prometheus.NewDesc("kmsd_raft_snapshot_threshold_entries",
		"Log entries after a snapshot that trigger the next (raised for a large state).", nil, nil)
)

var raftStates = []string{"Leader", "Follower", "Candidate", "Shutdown"}

// raftCollector reports the node's Raft numbers at each scrape.
type raftCollector struct {
	node RaftMetrics
}

func (c *raftCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{raftStateDesc, raftLeaderDesc, raftTermDesc, raftLastDesc, raftCommitDesc,
		raftApplyDesc, raftCLagDesc, raftALagDesc, raftContactDesc, raftSnapDesc} {
		ch <- d
	}
}

func (c *raftCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.node.Metrics()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, s := range raftStates {
		gauge(raftStateDesc, b2f(m.State == s), s)
	}
	gauge(raftLeaderDesc, b2f(m.HasLeader))
	gauge(raftTermDesc, float64(m.Term))
	gauge(raftLastDesc, float64(m.LastLogIndex))
	gauge(raftCommitDesc, float64(m.CommitIndex))
	gauge(raftApplyDesc, float64(m.StoreAppliedIndex))
	gauge(raftCLagDesc, float64(lag(m.LastLogIndex, m.CommitIndex)))
	gauge(raftALagDesc, float64(lag(m.CommitIndex, m.StoreAppliedIndex)))
	contact := m.SinceContact.Seconds()
	if m.SinceContact < 0 {
		contact = -1
	}
	gauge(raftContactDesc, contact)
	gauge(raftSnapDesc, float64(m.SnapshotThreshold))
}

func lag(ahead, behind uint64) uint64 {
	if ahead < behind {
		return 0
	}
	return ahead - behind
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
