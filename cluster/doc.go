// Package cluster replicates kmsd's key store with Raft (hashicorp/raft).
//
// kmsd always runs Raft, even on one node, so that there is a single code
// path: a mutation is proposed with [Node.ApplyMutation], committed to the
// log, and applied by every node's state machine to its [keystore.Store].
// Today a cluster has one node; joining more is future work.
//
// # Starting a node
//
//	store, err := keystore.Open(filepath.Join(dataDir, "keystore"), keystore.Options{Logger: log})
//	...
//	node, err := cluster.New(cluster.Config{
//		NodeID:    "node1",
//		BindAddr:  "127.0.0.1:7401",
//		Dir:       filepath.Join(dataDir, "raft"),
//		Bootstrap: true,
//		Logger:    log,
//	}, store)
//	...
//	err = node.WaitForLeader(ctx)
//	...
//	defer node.Shutdown() // then store.Close()
//
// With Bootstrap set, a node whose Dir holds no raft state makes itself a
// cluster of one; with existing state Bootstrap is ignored. Restarting on
// the same directories recovers everything.
//
// # Durability
//
//   - The raft log and stable store ([LogStore], Badger in Dir/log) fsync
//     every write before raft acknowledges it.
//   - The key store records the index of the last entry it applied in the
//     same transaction as the change, so replaying entries after a crash is
//     idempotent: the store skips what it has.
//   - Snapshots (Dir/snapshots, the newest two kept) stream a point-in-time
//     read transaction of the store. On start, if the store already holds
//     everything the latest snapshot holds, the snapshot is not restored;
//     otherwise (for example the key store directory was lost) raft
//     restores it and replays the log after it.
//   - A store that is ahead of the raft log (the raft directory was lost)
//     would silently skip new entries, so New refuses it with
//     [ErrStoreAhead].
//
// # State machine
//
// The state machine only decodes a command (clusterv1.Command) and
// dispatches on its type. Apply is deterministic; the outcome of a
// mutation, nil or a key store error such as keystore.ErrNotFound, is
// returned to the proposer as a value. A command that cannot be decoded, or
// of an unknown type not marked ignorable, panics: applying it differently
// from other nodes would be worse. So does a failure of the store's disk.
// To keep such entries out of the log, [Node.Apply] refuses to propose a
// command of a type the state machine does not know (unless ignorable) and
// [Node.ApplyMutation] one that does not decode, with [ErrInvalidCommand].
//
// # Timeouts
//
// Every wait on raft has a deadline: the caller's context or
// Config.ApplyTimeout (default 5 s), whichever is sooner, because raft
// futures can hang across a leadership change (hashicorp/raft#498). When
// it passes, Apply returns [ErrTimeout] and the outcome is unknown: the
// entry may still be committed. [ErrNotLeader] means a mutation must go to
// the leader; [ErrShutdown] that the node is stopping. Raft's own timers
// (heartbeat, election, leader lease) default to hashicorp/raft's and can be
// shortened for tests.
//
// # Forwarding
//
// With Config.Forward, a follower does not refuse a command: it sends it to
// the leader's ForwardService (Peer.APIAddr), authenticated with an HMAC
// under a key every member holds and accepted once within a short window,
// and returns the leader's outcome once it has applied the entry itself.
// See forward.go.
//
// # Leadership
//
// Scheduled actions (such as deleting keys whose waiting period is over)
// are proposed by the leader only. [Node.LeaderCh] delivers the current
// leadership state and every change; [Node.IsLeader] answers now.
package cluster
