package cluster

import "errors"

// Errors returned by Node. ErrTimeout and ErrShutdown leave the outcome of
// an Apply unknown: the command may or may not have been committed.
var (
	// ErrNotLeader: this node is not the leader (or lost leadership while
	// the command was in flight); send mutations to the leader.
	ErrNotLeader = errors.New("cluster: not the leader")
	// ErrTimeout: the deadline (the caller's or Config.ApplyTimeout) passed
	// before raft answered. The command may still be committed later.
	ErrTimeout = errors.New("cluster: timed out waiting for raft")
	// ErrShutdown: the node is shut down or shutting down.
	ErrShutdown = errors.New("cluster: node is shut down")
	// ErrInvalidCommand: Apply refused to propose a command the state
	// machine could not decode or does not know (it would stop every node).
	ErrInvalidCommand = errors.New("cluster: invalid command")
	// ErrStoreAhead: the key store has applied entries the raft log and
	// snapshots do not hold (for example the raft directory was lost).
	// Starting would silently skip new entries, so New refuses.
	ErrStoreAhead = errors.New("cluster: key store is ahead of the raft log")
	// ErrKeyNotFound: LogStore.Get or GetUint64 of a key never set. Its text
	// is exactly "not found", without the package prefix, because
	// hashicorp/raft compares err.Error() with that string.
	ErrKeyNotFound = errors.New("not found")
	// ErrStorageFull: the data directory's file system has less free
	// space than the node keeps in reserve (Config.StorageCheck); the
	// command was not proposed.
	ErrStorageFull = errors.New("cluster: the data directory is nearly full")
	// ErrRestoring: a restore of a backup is being installed (Restore), or
	// one failed on this member after replacing its state, whose state
	// may then not be the cluster's until a restore completes; reads are
	// refused meanwhile. Retry.
	ErrRestoring = errors.New("cluster: a restore is being installed")
)
