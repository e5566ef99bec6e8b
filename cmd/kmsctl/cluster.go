package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The cluster commands show the Raft cluster that replicates kmsd's state.

func init() {
	groups["cluster"] = clusterUsage
	groups["cluster snapshot"] = snapshotUsage
	register(&command{name: "cluster status", op: "GetClusterStatus", usage: clusterStatusUsage, run: clusterStatus},
		&command{name: "cluster remove", op: "RemoveMember", usage: clusterRemoveUsage, run: clusterRemove,
			flags: []flagSpec{{"node-id", kindString, true}}, positional: "node-id"},
		&command{name: "cluster backup", op: "Backup", usage: clusterBackupUsage, run: clusterBackup, untimed: true,
			ownsOutfile: true},
		&command{name: "cluster snapshot save", op: "Backup", usage: snapshotSaveUsage, run: clusterBackup, untimed: true,
			ownsOutfile: true, positional: "outfile"},
		&command{name: "cluster snapshot restore", op: "Restore", usage: snapshotRestoreUsage, run: clusterRestore,
			untimed: true, positional: "infile", flags: []flagSpec{{"infile", kindString, true}}},
		&command{name: "cluster join", op: "AddMember", usage: clusterJoinUsage, run: clusterJoin,
			flags: []flagSpec{{"node-id", kindString, true}, {"raft-address", kindString, true},
				{"api-address", kindString, true}, {"non-voter", kindBool, false}}})
}

const clusterUsage = `Usage: kmsctl cluster COMMAND [flags]

Shows the Raft cluster that replicates kmsd's keys and audit log.

Commands:
  status       the members, which one leads, the term, and each member's log
               indexes and lag
  join         add a node (started with --bootstrap=false) as a member
  snapshot save FILE
               save a backup of the replicated state (encrypted under the
               root key; "cluster backup --outfile FILE" does the same)
  snapshot restore FILE
               replace the running cluster's state with a backup
  remove NODE  take a member out of the cluster

A node enters a running cluster by itself when started with
"kmsd --join HOST:PORT" (the gRPC address of any member) and the cluster's
root key file; or start it with --bootstrap=false and add it with
"kmsctl cluster join".

Run "kmsctl help cluster COMMAND" for a command's flags and an example.
`

const clusterStatusUsage = `Usage: kmsctl cluster status

Asks the kmsd at --endpoint for the cluster's members (node id, Raft and
API addresses, voter or not, leader or not), the current term and its own
log indexes, then asks every member it can reach for its state and applied
index. Lag is the leader's commit index minus the member's applied index:
how many committed entries the member has yet to apply. A member that does
not answer within --timeout has an Error instead.

Example:
  kmsctl cluster status --output json
  kmsctl cluster status --query 'Members[?Lag > ` + "`100`" + `].NodeId'
`

const clusterRemoveUsage = `Usage: kmsctl cluster remove NODE   (or --node-id NODE)

Takes member NODE out of the cluster: it no longer receives the log or
votes. Stop its kmsd afterwards; to bring it back, wipe its data directory
and start it with --join. Removing members can cost the cluster its
majority: with three members, remove one at a time and only while the other
two are up.

Example:
  kmsctl cluster remove kmsd-3
`

const clusterJoinUsage = `Usage: kmsctl cluster join --node-id NODE --raft-address HOST:PORT --api-address HOST:PORT [--non-voter]

Adds node NODE to the cluster, as a voter or, with --non-voter, a non-voter
(it receives the log and serves calls but does not vote). Start the node
first with the cluster's root key file, no Raft state and --bootstrap=false;
it catches up from the leader (a snapshot if the log has been compacted).
Joining a non-voter again without --non-voter promotes it; joining a voter
with --non-voter demotes it.

Example:
  kmsctl cluster join --node-id kmsd-4 --raft-address 10.0.0.4:7401 --api-address 10.0.0.4:7400
`

func clusterJoin(ctx context.Context, c *call) (any, error) {
	return c.cluster.AddMember(ctx, &kmsv1.AddMemberRequest{NodeId: c.args.strings["node-id"],
		RaftAddress: c.args.strings["raft-address"], ApiAddress: c.args.strings["api-address"], NonVoter: c.args.bools["non-voter"]})
}

const clusterBackupUsage = `Usage: kmsctl cluster backup --outfile FILE

Saves a point-in-time backup of the cluster's replicated state, made by the
member at --endpoint while it serves: every key (its material wrapped under
the root key, never in plaintext), alias and tag, and the audit log with its
signed heads. The file (mode 0600) is encrypted and authenticated under a
data key sealed with the root key; "kmsd restore --backup FILE" starts a new
cluster from it, and only with the same root key. Keep backups and the root key apart: a backup
without the root key yields no key material.

Example:
  kmsctl cluster backup --outfile kmsd-$(date +%F).backup
`

// backupResult is what "cluster backup" prints.
type backupResult struct {
	OutFile string `json:"OutFile"`
	Bytes   int64  `json:"Bytes"`
}

func clusterBackup(ctx context.Context, c *call) (any, error) {
	path := c.args.strings["outfile"]
	if path == "" {
		return nil, usagef("FILE (or --outfile FILE) is required")
	}
	stream, err := c.cluster.Backup(ctx, &kmsv1.BackupRequest{})
	if err != nil {
		return nil, err
	}
	tmp := path + ".partial"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: --outfile: %v", errLocal, err)
	}
	defer os.Remove(tmp)
	var n int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.Close()
			return nil, err
		}
		k, err := f.Write(chunk.GetData())
		n += int64(k)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%w: --outfile: %v", errLocal, err)
		}
	}
	if err := f.Chmod(0o600); err == nil {
		err = f.Sync()
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("%w: --outfile: %v", errLocal, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("%w: --outfile: %v", errLocal, err)
	}
	return backupResult{OutFile: path, Bytes: n}, nil
}

const snapshotUsage = `Usage: kmsctl cluster snapshot save|restore FILE

Backs up the cluster's replicated state to FILE, or restores it from FILE.

Commands:
  save FILE      a point-in-time backup, encrypted under the root key
  restore FILE   replace the running cluster's state with a backup

Run "kmsctl help cluster snapshot save" (or restore) for details.
`

const snapshotSaveUsage = `Usage: kmsctl cluster snapshot save FILE

Saves a point-in-time backup of the cluster's replicated state to FILE,
made by the member at --endpoint while it serves (after every mutation
acknowledged before, by any member): every key (its material wrapped under
the root key, never in plaintext), alias, tag, policy, grant and identity,
and the audit log with its signed heads. FILE (mode 0600) is encrypted and
authenticated under a data key sealed with the root key, so it is of use
only with that root key: keep backups and the root key apart.

Restore it into a running cluster with "kmsctl cluster snapshot restore
FILE", or start a new cluster from it with "kmsd restore --backup FILE".
"kmsctl cluster backup --outfile FILE" is the same command.

Example:
  kmsctl cluster snapshot save kmsd-$(date +%F).backup
`

const snapshotRestoreUsage = `Usage: kmsctl cluster snapshot restore FILE

Replaces the replicated state of the running cluster with the backup in
FILE (made by "cluster snapshot save" under the same root key). The leader
receives the file, checks all of it first — the root key, every byte
authentic, a state that restores — and refuses it without changing
anything if it does not check out (ValidationException). Otherwise every
member replaces its state through Raft; the command returns once a
majority holds the restored state, and prints the backup's node, time
and index and the index the cluster restored it at.

Everything but the cluster's membership is replaced, the audit log
included: records written after the backup was made are no longer in the
live log. Export them first ("kmsctl audit export --outfile FILE"). The
restore's own audit record, among the first after the backup's, names the
size and Merkle root of the log it replaced (ReplacedAuditSize,
ReplacedAuditRoot, also printed here), and an auditor's checkpoint
("kmsctl audit verify --checkpoint") shows that the log went back. While
the restore is installed, and if it fails after the leader took the
backup's state, the leader refuses calls that read state
(DependencyTimeoutException: retry).

Run it against the leader; another member answers NotLeaderException with
the leader's address, and kmsctl retries there. Calls in flight during the
restore may fail with DependencyTimeoutException; retry them. If the
restore itself fails that way (the leader changed while it installed the
backup), its outcome is unknown: run it again, which installs the same
state on every member. Requires the kmsd:Restore permission. A FILE whose
name starts with "-" follows "--" (or is given as --infile=FILE).

Example:
  kmsctl audit export --outfile audit-before-restore.json
  kmsctl cluster snapshot restore kmsd-2026-11-28.backup
  kmsctl cluster snapshot restore -- -old.backup
`

// restoreChunk is the size of the messages a backup is sent in.
const restoreChunk = 256 << 10

func clusterRestore(ctx context.Context, c *call) (any, error) {
	path := c.args.strings["infile"]
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errLocal, err)
	}
	defer f.Close()
	resp, err := sendBackup(ctx, c.cluster, f)
	if addr, ok := leaderAddress(err); ok && c.transport != nil {
		// Not the leader: send it to the one it named, if it names a
		// host (a member that listens on every interface may give
		// 0.0.0.0, which is no address to call).
		if host, _, _ := net.SplitHostPort(addr); host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			return nil, err
		}
		conn, cerr := c.transport.dial(addr)
		if cerr != nil {
			return nil, cerr
		}
		defer conn.Close()
		cl := kmsv1.NewClusterServiceClient(conn)
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%w: %v", errLocal, err)
		}
		resp, err = sendBackup(ctx, cl, f)
	}
	return resp, err
}

func sendBackup(ctx context.Context, cl kmsv1.ClusterServiceClient, f io.Reader) (*kmsv1.RestoreResponse, error) {
	stream, err := cl.Restore(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, restoreChunk)
	for {
		n, rerr := io.ReadFull(f, buf)
		if n > 0 {
			if err := stream.Send(&kmsv1.RestoreChunk{Data: buf[:n]}); err != nil {
				// The server ended the call; its status says why.
				_, err = stream.CloseAndRecv()
				return nil, err
			}
		}
		if errors.Is(rerr, io.EOF) || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("%w: %v", errLocal, rerr)
		}
	}
	return stream.CloseAndRecv()
}

// leaderAddress returns the API address a NotLeaderException names.
func leaderAddress(err error) (string, bool) {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.FailedPrecondition || exceptionName(st) != "NotLeaderException" {
		return "", false
	}
	_, rest, ok := strings.Cut(st.Message(), "call ")
	addr, _, _ := strings.Cut(rest, " ")
	return addr, ok && addr != ""
}

func clusterRemove(ctx context.Context, c *call) (any, error) {
	return c.cluster.RemoveMember(ctx, &kmsv1.RemoveMemberRequest{NodeId: c.args.strings["node-id"]})
}

// memberStatus is one member in the output of cluster status.
type memberStatus struct {
	NodeID       string  `json:"NodeId"`
	RaftAddress  string  `json:"RaftAddress"`
	APIAddress   string  `json:"ApiAddress,omitempty"`
	Suffrage     string  `json:"Suffrage"`
	Leader       bool    `json:"Leader"`
	State        string  `json:"State,omitempty"`
	AppliedIndex uint64  `json:"AppliedIndex,omitempty"`
	CommitIndex  uint64  `json:"CommitIndex,omitempty"`
	Lag          *uint64 `json:"Lag,omitempty"`
	Error        string  `json:"Error,omitempty"`
}

type clusterStatusOutput struct {
	NodeID      string         `json:"NodeId"`
	LeaderID    string         `json:"LeaderId"`
	Term        uint64         `json:"Term"`
	CommitIndex uint64         `json:"CommitIndex"`
	Members     []memberStatus `json:"Members"`
}

func clusterStatus(ctx context.Context, c *call) (any, error) {
	resp, err := c.cluster.GetClusterStatus(ctx, &kmsv1.GetClusterStatusRequest{})
	if err != nil {
		return nil, err
	}
	out := clusterStatusOutput{NodeID: resp.GetNodeId(), LeaderID: resp.GetLeaderId(), Term: resp.GetTerm(),
		CommitIndex: resp.GetCommitIndex()}
	// Each member's own view, asked directly.
	views := map[string]*kmsv1.GetClusterStatusResponse{resp.GetNodeId(): resp}
	errs := map[string]string{}
	for _, m := range resp.GetMembers() {
		if m.GetNodeId() == resp.GetNodeId() || m.GetApiAddress() == "" {
			continue
		}
		v, err := memberView(ctx, c.transport, m.GetApiAddress())
		if err != nil {
			errs[m.GetNodeId()] = err.Error()
			continue
		}
		views[m.GetNodeId()] = v
	}
	if l, ok := views[resp.GetLeaderId()]; ok {
		out.CommitIndex = l.GetCommitIndex()
	}
	for _, m := range resp.GetMembers() {
		ms := memberStatus{NodeID: m.GetNodeId(), RaftAddress: m.GetRaftAddress(), APIAddress: m.GetApiAddress(),
			Suffrage: m.GetSuffrage(), Leader: m.GetLeader(), Error: errs[m.GetNodeId()]}
		if v, ok := views[m.GetNodeId()]; ok {
			ms.State, ms.AppliedIndex, ms.CommitIndex = v.GetState(), v.GetAppliedIndex(), v.GetCommitIndex()
			lag := out.CommitIndex - min(out.CommitIndex, v.GetAppliedIndex())
			ms.Lag = &lag
		}
		out.Members = append(out.Members, ms)
	}
	return out, nil
}

// memberView asks one member for its status.
func memberView(ctx context.Context, t *transport, addr string) (*kmsv1.GetClusterStatusResponse, error) {
	conn, err := t.dial(addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return kmsv1.NewClusterServiceClient(conn).GetClusterStatus(ctx, &kmsv1.GetClusterStatusRequest{})
}
