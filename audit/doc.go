// Package audit is kmsd's tamper-evident audit log: the record format, the
// Merkle tree the records are hashed into, the signed tree heads that commit
// to it, and the offline verifier an auditor runs over an export.
//
// It is a leaf library: it imports nothing else from kmsd, keeps no files and
// starts no goroutines. The server decides when a record is written and makes
// it durable; this package decides what a record is and how it is proved.
//
// # Records
//
// One Event is written per request after its outcome is known, successes
// and failures alike (an access denial is a record with errorCode
// "AccessDeniedException"), plus one per action the service takes by itself,
// such as a scheduled rotation or deletion (eventType "AwsServiceEvent", with
// serviceEventDetails). The fields are those of an AWS CloudTrail record, so
// existing tooling can read them: eventVersion, userIdentity (type,
// principalId, arn, accountId, accessKeyId), eventTime (RFC 3339, UTC,
// milliseconds), eventSource ("kms.amazonaws.com"), eventName (the API
// operation), awsRegion, sourceIPAddress, userAgent, requestParameters,
// responseElements, errorCode, errorMessage, requestID, eventID, readOnly,
// resources (the keys touched, type "AWS::KMS::Key"), eventType,
// managementEvent, eventCategory ("Management") and serviceEventDetails.
//
// eventVersion is EventVersion, "1.11". The major version changes for
// incompatible changes and the minor version for added fields: ParseEvent
// refuses unknown fields in records of this minor version or older, and
// ignores them in records of a newer minor version, as CloudTrail readers do.
//
// Records never contain plaintext, ciphertext, key material, data keys,
// tokens or any other secret. That is the caller's duty: the package offers
// no field for them, and the free-form maps (requestParameters,
// responseElements, serviceEventDetails) must carry only identifiers, names,
// algorithms, sizes and the encryption context, which AWS KMS also logs.
// A bearer token, if one must be correlated, is recorded only as an HMAC.
//
// # The tree
//
// Event.Canonical gives the bytes of a record: encoding/json of the struct,
// whose field order is fixed and whose map keys are sorted. Those exact bytes
// are leaf data of an append-only Merkle tree hashed as in RFC 6962:
//
//	leaf hash = SHA-256(0x00 || record bytes)
//	node hash = SHA-256(0x01 || left || right)
//
// Tree holds the hashes in memory; Root gives the root of any prefix, and
// InclusionProof and ConsistencyProof give the RFC 6962 proofs that
// VerifyInclusion and VerifyConsistency check as RFC 9162 sections 2.1.3.2
// and 2.1.4.2 specify. A root commits to every record under it and to their
// order: changing, removing, inserting or reordering any record changes the
// root of every tree that contains it.
//
// # Signed tree heads
//
// At a fixed cadence the log signs a TreeHead with its Ed25519 key. The
// signed text is five lines:
//
//	kmsd audit tree head v1
//	<size>
//	<base64 root>
//	<timestamp, Unix milliseconds>
//	<size of the previous signed head>
//
// The last line chains each head to the one before (0 for the first), so a
// head cannot be dropped from an export unnoticed. A SignedTreeHead carries
// the signature, the signer's KeyID (the first 8 bytes of SHA-256 of the
// public key) and, optionally, the leaf hashes of the records it adds. Those
// hashes are not signed but are bound by the root; they let a verifier name
// the first altered record instead of only the interval that contains it.
//
// # Verifying offline
//
// An auditor needs only the exported records, the signed heads and the log's
// public key, obtained out of band:
//
//	if err := audit.VerifyLog(records, heads, pub); err != nil {
//		var te *audit.TamperError
//		if errors.As(err, &te) {
//			fmt.Printf("first bad record: %d (%s)\n", te.Index, te.Reason)
//		}
//	}
//
// VerifyLog recomputes the tree, checks every head's signature, chain and
// root, and requires the last head to cover every record. On failure it
// returns a *TamperError (errors.Is(err, ErrTampered) holds) naming the first
// record that cannot be trusted; see VerifyLog for the exact rule. Cutting
// the last heads together with their records is indistinguishable from a
// shorter log: an auditor who has seen a later head should keep it and check
// that the export reaches it.
//
// # Export files
//
// WriteExport writes a log as one JSON document shaped like a CloudTrail
// log file, so tools that read CloudTrail logs find the records in a
// top-level Records array:
//
//	{"Records":[
//	{"eventVersion":"1.11",...},
//	{"eventVersion":"1.11",...}
//	],
//	"kmsdSignedTreeHeads":[
//	{"head":"<base64 signed text>","signature":"<base64>","keyId":"<hex>","leaves":["<base64>",...]}
//	],
//	"kmsdPublicKey":"<base64 raw Ed25519 public key>"}
//
// Each record is embedded byte for byte, one per line, and heads are in the
// order they were signed. "leaves" holds the leaf hashes of the head's
// interval (see SignedTreeHead.Leaves); WriteExport adds them for every head
// the records reproduce, so that a later check names the first altered
// record. ReadExport reads the file back and VerifyExport also verifies it:
//
//	exp, err := audit.VerifyExport(f, pub) // pub obtained out of band
//
// A record's leaf data is the record as embedded in the file with
// insignificant whitespace removed (json.Compact). For a record written by
// WriteExport that is the identity, since records are compact JSON; the
// rule lets an export survive re-indentation by a JSON pretty-printer, and,
// unlike re-encoding with ParseEvent and Canonical, it does not depend on
// this package understanding the record: records of a newer minor
// eventVersion, whose unknown fields ParseEvent drops, still verify. Any
// other change to a record, including re-escaping its strings, is a change
// of its bytes and is reported as tampering.
//
// Only a public key obtained out of band proves that an export is the log
// kmsd signed. kmsdPublicKey is a convenience: whoever rewrote the records
// could re-sign every head with a key of their own and put it in the file,
// so a file verified with its own key is only known to be consistent.
//
// # Inclusion proofs
//
// An InclusionProof is one record, its index, its RFC 6962 audit path and a
// signed tree head: everything needed to show a third party that the record
// is in the log, without the rest of the log. InclusionProof.Marshal and
// ParseInclusionProof give it a JSON form (the record embedded byte for
// byte, under the same whitespace rule as exports), and Verify checks it
// against the log's public key.
package audit
