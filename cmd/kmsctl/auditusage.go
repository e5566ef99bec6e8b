package main

const auditUsage = `Usage: kmsctl audit COMMAND [flags]

Reads kmsd's tamper-evident audit log: one CloudTrail-style record per
request, hashed into a Merkle tree whose heads kmsd signs with Ed25519.

Commands:
  lookup       find records by event name, key, user, time, error code or event id
  tail         print records as they are committed, until interrupted
  export       write the log and its signed tree heads to a file
  verify       check the live log, or an export with --file
  prove        prove that one record is in the log, or check a saved proof
  public-key   print the key that signs tree heads

Run "kmsctl help audit COMMAND" for a command's flags and an example.

verify and prove check signatures with --public-key or --public-key-file
when given. Without them they use the key kmsd (or the file) supplies, which
shows only that the log is consistent, not that kmsd signed it: keep the
output of "kmsctl audit public-key" somewhere safe and pass it.

Exit status as for every command, and 1 when the log, the export or the
proof does not check out (the message names the first bad record).
`

const auditLookupUsage = `Usage: kmsctl audit lookup [--event-name NAME] [--key-id KEY] [--user-name USER]
       [--start-time TIME] [--end-time TIME] [--error-code CODE] [--event-id ID]
       [--page-size N] [--max-items N] [--starting-token TOKEN]

Prints the records that match every given filter, newest first, as
{"Events":[...],"NextToken":"..."} with each record as a JSON object with
CloudTrail's field names. KEY is a key id, key ARN or alias. USER matches
the caller's principalId, ARN, access key id or user name. TIME is RFC 3339
(2026-03-01T12:00:00Z), a date (2026-03-01, midnight UTC) or Unix seconds.

Follows every page unless --max-items N is given: it then stops after N
records and prints the NextToken to resume from with --starting-token.
--page-size (1-1000, default 50) sets how many records each call returns.

Example:
  kmsctl audit lookup --event-name Decrypt --key-id alias/payments --start-time 2026-03-01
  kmsctl audit lookup --error-code AccessDeniedException --max-items 10 --query 'Events[].eventID'
`

const auditTailUsage = `Usage: kmsctl audit tail [--start-index N]

Prints each record as it is committed, one JSON object per line, until
interrupted (exit status 130). --start-index N starts with record N (0 is
the first record ever written); by default only new records are printed.
--timeout does not apply.

Example:
  kmsctl audit tail --start-index 0 | jq -c 'select(.errorCode != null)'
`

const auditExportUsage = `Usage: kmsctl audit export --outfile PATH [--public-key BASE64 | --public-key-file PATH]

Asks kmsd to sign a tree head over every record so far, then writes every
record it covers, every signed tree head and kmsd's public key to PATH
(mode 0600) as CloudTrail-style JSON: {"Records":[...],
"kmsdSignedTreeHeads":[...],"kmsdPublicKey":"..."}. The export is then
verified as "audit verify" does; if it does not verify, the file is kept as
evidence and the exit status is 1. A record kmsd serves empty or that is not
a compact JSON object is written as {"kmsdUnreadableRecord":{"index":N,
"length":L,"base64":"..."}}, which verification then names; a signed head
kmsd serves unreadable is left out, which breaks the chain of heads there.
--timeout applies to each call.

Example:
  kmsctl audit export --outfile audit-2026-03.json
  kmsctl audit verify --file audit-2026-03.json --public-key-file kmsd-audit.pub
`

const auditVerifyUsage = `Usage: kmsctl audit verify [--file PATH] [--checkpoint PATH]
       [--public-key BASE64 | --public-key-file PATH]

Checks the audit log: every signed tree head's signature and chain, and
that the records reproduce every head's Merkle root. Without --file it asks
kmsd to sign a head over every record so far and checks the live log; with
--file it checks an export offline, without contacting kmsd.

The key is --public-key (base64), --public-key-file (32 raw bytes, base64 or
a PEM PUBLIC KEY), or else the one kmsd or the file supplies, which shows
only that the log is consistent.

Prints the number of records and heads and the last root; when the log does
not check out, prints the first record that cannot be trusted and why, and
exits with status 1. kmsd keeps, with each signed head, the leaf hashes of
the records it adds, and an export carries them, so the record named is
exactly the first one altered, removed, inserted or reordered since the head
that covers it was signed, in the live log as in an export. A record kmsd
serves empty (removed from its store) is named as such; a signed head it
serves empty or unreadable is reported at the first record it covered.
Records after the newest head are covered by no signature yet: verify asks
kmsd to sign them first. kmsd signs only records it wrote itself (each is
stored with a MAC under a key derived from its root key), so a record added
to its store behind its back stays unsigned, and verify names it as the
first record no signed head covers.
With a retention policy the records kmsd removed are checked through the
leaf hashes of the heads that cover them (FirstIndex is the first record
kmsd still holds).

What no log can show by itself is that its end was cut off, together with
every head that covered it. --checkpoint PATH closes that gap: after the log
checks out, verify saves its newest signed head to PATH (mode 0600), and
the next verify with the same PATH requires the log to still hold that
exact head (kmsd never removes a head, retention included); a log cut off
since is reported at its first missing record. Keep the file where whoever
can write kmsd's data directory cannot, and run verify regularly.

Example:
  kmsctl audit public-key --query PublicKey --output text > kmsd-audit.pub
  kmsctl audit verify --public-key-file kmsd-audit.pub --checkpoint ~/kmsd-audit.checkpoint
  kmsctl audit verify --file audit-2026-03.json --public-key-file kmsd-audit.pub
`

const auditProveUsage = `Usage: kmsctl audit prove (--event-id ID | --index N) [--tree-size N]
       [--public-key BASE64 | --public-key-file PATH]
       kmsctl audit prove --file PROOF.json [--public-key BASE64 | --public-key-file PATH]

With --event-id (the id every kmsd response carries in its kmsd-event-id
header, which "kmsctl --show-event-id COMMAND" prints) or --index, fetches
the proof that the record is in the log under a signed tree head (the
newest, or the one of size --tree-size), checks the head's signature and
the audit path, and prints the proof as JSON: Record, Index, TreeSize,
RootHash, AuditPath, Head, Signature, KeyId, PublicKey.
Save it, and anyone can check it offline with --file.

With --file, checks a saved proof and prints what it proves. The key is as
for "audit verify"; a proof checked with its own PublicKey shows only that
it is consistent. Exit status 1 when the proof does not check out.

Example:
  kmsctl audit prove --event-id 0f9c2d7e-5b1a-4c3e-9f7d-2a6b8c1e4d3f > proof.json
  kmsctl audit prove --file proof.json --public-key-file kmsd-audit.pub
`

const auditPublicKeyUsage = `Usage: kmsctl audit public-key

Prints the Ed25519 public key that signs the audit log's tree heads
(PublicKey, base64 of the raw 32 bytes) and its KeyId (hex, the first 8
bytes of its SHA-256). Keep a copy obtained over a channel you trust: it is
what "audit verify" and "audit prove" check signatures against.

Example:
  kmsctl audit public-key --query PublicKey --output text > kmsd-audit.pub
`
