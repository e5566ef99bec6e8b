package keystore

import "errors"

// Errors returned by Apply and by the read methods. Apply returns them as
// values: a mutation that fails one of these checks changes nothing.
var (
	// ErrNotFound: no key or alias by that name.
	ErrNotFound = errors.New("keystore: not found")
	// ErrAlreadyExists: a key or alias by that name exists already.
	ErrAlreadyExists = errors.New("keystore: already exists")
	// ErrInvalidState: the key's state does not allow the operation
	// (AWS KMSInvalidStateException).
	ErrInvalidState = errors.New("keystore: invalid key state")
	// ErrLimitExceeded: the mutation would exceed a per-key limit (tags, aliases).
	ErrLimitExceeded = errors.New("keystore: limit exceeded")
	// ErrInvalidMutation: the mutation is malformed (missing fields, unknown op).
	ErrInvalidMutation = errors.New("keystore: invalid mutation")
)
