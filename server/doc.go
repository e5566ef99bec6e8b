// Package server implements kmsd's gRPC API, kms.v1.KeyManagementService
// and kms.v1.AuditService, on top of the key store (reads), the Raft
// cluster (mutations and the audit log) and the envelope package
// (cryptography).
//
// # Request paths
//
// Cryptographic calls (Encrypt, Decrypt, ReEncrypt, GenerateDataKey,
// GenerateDataKeyWithoutPlaintext, GenerateRandom) are served by the node
// that receives them: the key is looked up in the in-memory key store, its
// version's material is unwrapped under the root key once and cached, and
// the operation runs locally. They never write to the Raft log.
//
// Mutations (CreateKey, EnableKey, CreateAlias, ...) are validated, every
// random or time-dependent value is chosen here (key ids, new key material
// already wrapped under the root key, timestamps), and the resulting
// keystore.Mutation is committed through the Proposer. The state machine
// re-checks every precondition when it applies the mutation, so concurrent
// mutations cannot break the key-state rules; a refused mutation changes
// nothing. On a follower the cluster forwards the mutation to the leader
// and answers once the follower has applied it, so a caller reads its own
// writes on the node it called.
//
// # Front doors
//
// The gRPC interceptor and Invoke (invoke.go) run every call through one
// pipeline (Server.pipeline): authentication, the read barrier,
// authorization, the handler, the error table and the audit record. Invoke
// serves another protocol's front door — the AWS-compatible HTTP endpoint
// of package awsapi — which checks the request's signature with the
// signing key LookupCredential derives (the secret stays here) and hands
// over the operation, its decoded request and the outcome of the check.
//
// # Audit
//
// The interceptor records every call to both services, success or failure,
// in the audit log before the response leaves (AuditLog, auditWriter): the
// record (package audit's Event; never a secret: bytes fields of requests
// and responses are left out) joins the open batch, and a free writer
// commits the whole batch as one Raft entry (group commit). If the batch
// cannot be committed, every call in it fails with DependencyTimeoutException
// saying so. Each record is stored with an HMAC of its leaf hash under a key
// derived from the root key; the leader signs tree heads (Ed25519, the key
// wrapped under the root key and kept in the replicated state) every
// AuditSignInterval and every 8,192 records, only over records whose MAC
// verifies. The actions the service takes by itself are recorded as
// AwsServiceEvent records. With AuditRetention, records past that age are
// archived to export files and removed (auditretention.go).
//
// # Usage limits
//
// With RotateAfterEncryptions, no key material makes more encryptions than
// the limit: nodes take uses from budgets the log allots before they
// encrypt, and the encryption that finds none left rotates the key
// (budget.go).
//
// # Limits
//
// Every call after authentication draws a token from its caller's bucket
// for its kind of call (cryptographic, read, other) and from the node's
// bucket; a call over a quota is ThrottlingException, audited like any
// refusal (Config.RateLimits, ratelimit.go). Connections are bounded in
// number, streams, handshake time and idle time (Config.Connections,
// connlimits.go), and a connection whose client cancels most calls it
// opens (the HTTP/2 rapid-reset pattern) is closed; an address that floods
// twice within 10 s is refused for a while, its new connections held open
// unread until then (resetguard.go). A call whose caller has gone before
// anything was done is neither handled nor recorded.
//
// # Metrics
//
// With Config.Metrics, the server registers Prometheus metrics named
// kmsd_*: calls by operation and result, latency, throttling, the audit
// log's queue and commits, keys by state, key versions' usage and, with
// Config.Raft, the node's Raft state (metrics.go). No label holds a key
// id, a principal or anything from a request.
//
// # Errors
//
// Every error reaches the client through one table (errors.go): a gRPC code
// plus a google.rpc.ErrorInfo whose reason is the AWS KMS exception name
// (NotFoundException, DisabledException, KMSInvalidStateException,
// InvalidCiphertextException, IncorrectKeyException, ValidationException,
// ...). Every decryption failure is the same InvalidCiphertextException.
// Unexpected errors are logged and sent as KMSInternalException with a
// generic message. Request and response messages are never logged.
//
// # Key identifiers
//
// A KeyId parameter accepts a key id, a key ARN and, where AWS KMS accepts
// them (DescribeKey and the cryptographic operations), an alias name
// ("alias/...") or an alias ARN. ARNs have the form
// arn:aws:kms:REGION:ACCOUNT:key/ID with the configured region and account
// id (defaults us-east-1 and 111122223333).
package server
