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
package audit
