// Package kmsd is a self-hosted key management service with an API shaped
// like AWS KMS: customer master keys held in a Raft-replicated store, envelope
// encryption with AES-256-GCM, and a command line (kmsctl) that mirrors the
// aws kms command line.
//
// The packages, from the top down:
//
//	cmd/kmsd     the daemon (composition root)
//	cmd/kmsctl   the operators' command line; talks to kmsd over gRPC only
//	cmd/kmsbench the load generator
//	server       the gRPC API; the one error-to-status table
//	cluster      Raft node, Badger log store, state machine
//	keystore     keys and aliases in Badger; deterministic mutations
//	encrypt      the envelope-encryption client applications use (data keys
//	             from kmsd over gRPC, the message format of envelope/message)
//	envelope     cryptography: ciphertext format, key derivation, wrapping
//	envelope/message  the framed, key-committing message format of encrypt
//	proto        the API definitions and generated code
//
// Imports point down only; deps_test.go enforces it.
package kmsd
