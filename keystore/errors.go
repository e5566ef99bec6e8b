package keystore

import "errors"

// Errors returned by the Store. Apply returns the domain errors (ErrNotFound
// to ErrInvalidMutation) as values: a mutation that fails one of these checks
// changes nothing but the applied index.
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
	// ErrDeleteConflict: the identity still has what must go first (a
	// user's access keys, policies or groups; a group's members or
	// policies; a role's policies), AWS DeleteConflictException.
	ErrDeleteConflict = errors.New("keystore: delete conflict")
	// ErrInvalidMutation: the mutation is malformed (missing fields, unknown op).
	ErrInvalidMutation = errors.New("keystore: invalid mutation")
	// ErrIncorrectMaterial: imported material that is not the key's
	// (AWS IncorrectKeyMaterialException).
	ErrIncorrectMaterial = errors.New("keystore: incorrect key material")
	// ErrInvalidMarker: a paging marker that no listing call returned.
	ErrInvalidMarker = errors.New("keystore: invalid marker")
	// ErrInvalidSnapshot: a snapshot stream is truncated, corrupted or of an
	// unknown format; Restore refused it and changed nothing.
	ErrInvalidSnapshot = errors.New("keystore: invalid snapshot")
	// ErrStorage: the database failed. Unlike the errors above it is not an
	// outcome of the mutation: nothing was applied and the applied index did
	// not advance, so a replicated state machine must stop, not go on.
	ErrStorage = errors.New("keystore: storage failure")
)
