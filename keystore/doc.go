// Package keystore holds kmsd's customer master keys and aliases.
//
// # What is stored
//
// A [Key] is a CMK's metadata (description, usage, spec, origin, state,
// dates, tags) and its versions. A [Version]'s material is stored only as
// it was given: wrapped (sealed) under the root key by the caller. The
// store never sees plaintext key material, never wraps or unwraps anything,
// and writes nothing but the records it was given (as JSON) and the applied
// index. An [Alias] maps a name ("alias/...") to a key id.
//
// The store also keeps the audit log (auditlog.go): records, their MACs and
// signed tree heads as opaque bytes appended in log order, whose meaning
// belongs to package audit and the server. The records, the bulk of it, are
// appended to files of their own in records/ next to Badger's (records.go):
// written once, each in a checksummed frame, and synced before the
// transaction that applies their entry, rather than rewritten by every
// compaction of Badger's tree as the log grows. Damaged or missing record
// files make [Open] fail; the frames of an entry that was never applied (a
// crash in between) are cut off and applied again.
//
// And it keeps the account's identities (identity.go): IAM users, groups,
// roles, their identity policies and users' access keys, whose secrets it
// holds only as the proposer wrapped them.
//
// Records live in Badger under "k/<id>", "a/<name>" and "m/applied". At
// [Open] every record is loaded into memory; reads ([Store.Key],
// [Store.Keys], [Store.Alias], [Store.Aliases]) never touch the disk, and
// [Store.Key], the lookup on every Encrypt and Decrypt, is a map lookup
// under a read lock.
//
// # Changing the state
//
// The state changes only through [Store.Apply], one [Mutation] at a time,
// each with the index of the Raft log entry that carried it:
//
//	err := store.Apply(entry.Index, m)
//
// Apply guarantees:
//
//   - Deterministic: the outcome depends only on the state and the mutation.
//     Apply reads no clock and uses no randomness; ids, timestamps and
//     wrapped material come in the mutation, chosen by the proposer.
//   - Atomic and durable: the change and the new applied index are written in
//     one Badger transaction, fsynced before Apply returns.
//   - Idempotent: an index at or below [Store.AppliedIndex] is skipped, so
//     replaying a log after a crash applies each entry exactly once.
//   - Domain failures are values: a mutation the key state does not allow
//     returns [ErrNotFound], [ErrAlreadyExists], [ErrInvalidState],
//     [ErrLimitExceeded] or [ErrInvalidMutation] (test with errors.Is), and
//     changes nothing but the applied index. [ErrStorage] is different: the
//     database failed and nothing, not even the index, changed.
//
// Key states follow AWS KMS: Enabled and Disabled keys can be switched; a key
// PendingImport has no material yet and can be neither enabled nor disabled;
// a key PendingDeletion can only have its deletion cancelled (it becomes
// Disabled, or PendingImport without material) or, once its deletion date
// has passed, be deleted for good with its versions and aliases.
//
// # Snapshots
//
// [Store.Snapshot] is fast: it pins the current state in a read-only
// transaction. [Snapshot.WriteTo] streams it (a versioned header,
// length-prefixed records, a SHA-256 checksum) and [Store.Restore] reads one
// back, verifies it entirely and only then replaces the state, applied index
// included. [Store.Digest] hashes the logical state so tests can check that
// replicas and restored stores agree.
package keystore
