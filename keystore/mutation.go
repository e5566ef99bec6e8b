package keystore

import (
	"encoding/json"
	"fmt"
	"time"
)

// Op names a mutation.
type Op string

// Mutations. Each is applied deterministically: everything random or
// time-dependent (ids, wrapped material, timestamps) is chosen by the
// proposer and carried in the Mutation.
const (
	OpCreateKey           Op = "CreateKey"            // Key
	OpUpdateDescription   Op = "UpdateKeyDescription" // KeyID, Description
	OpEnableKey           Op = "EnableKey"            // KeyID
	OpDisableKey          Op = "DisableKey"           // KeyID
	OpScheduleKeyDeletion Op = "ScheduleKeyDeletion"  // KeyID, DeletionDate, PendingWindowInDays
	OpCancelKeyDeletion   Op = "CancelKeyDeletion"    // KeyID
	OpDeleteKey           Op = "DeleteKey"            // KeyID; only once Time >= DeletionDate
	OpCreateAlias         Op = "CreateAlias"          // AliasName, KeyID
	OpUpdateAlias         Op = "UpdateAlias"          // AliasName, KeyID
	OpDeleteAlias         Op = "DeleteAlias"          // AliasName
	OpTagResource         Op = "TagResource"          // KeyID, Tags
	OpUntagResource       Op = "UntagResource"        // KeyID, TagKeys
	// Rotation and usage.
	OpEnableKeyRotation  Op = "EnableKeyRotation"  // KeyID, RotationPeriodInDays
	OpDisableKeyRotation Op = "DisableKeyRotation" // KeyID
	OpRotateKey          Op = "RotateKey"          // KeyID, RotationType, FromMaterialID, Version; DueDate or UsageLimit for AUTOMATIC
	OpAddUsage           Op = "AddUsage"           // Usage
	OpReserveUsage       Op = "ReserveUsage"       // KeyID, MaterialID, Reserve
	// Imported material.
	OpAddImportParams           Op = "AddImportParams"           // KeyID, ImportParams
	OpImportKeyMaterial         Op = "ImportKeyMaterial"         // KeyID, Version, ImportType
	OpDeleteImportedKeyMaterial Op = "DeleteImportedKeyMaterial" // KeyID, MaterialID (optional)
	OpExpireKeyMaterial         Op = "ExpireKeyMaterial"         // KeyID, MaterialID, DueDate = the material's ValidTo
)

// Mutation is one change to the key store, as replicated through the log.
type Mutation struct {
	Op Op `json:"op"`
	// Time is the proposer's clock when the mutation was made.
	Time                time.Time `json:"time"`
	KeyID               string    `json:"keyId,omitempty"`
	Key                 *Key      `json:"key,omitempty"`
	Description         string    `json:"description,omitempty"`
	DeletionDate        time.Time `json:"deletionDate,omitzero"`
	PendingWindowInDays int32     `json:"pendingWindowInDays,omitempty"`
	AliasName           string    `json:"aliasName,omitempty"`
	Tags                []Tag     `json:"tags,omitempty"`
	TagKeys             []string  `json:"tagKeys,omitempty"`
	// Rotation.
	RotationPeriodInDays int32  `json:"rotationPeriodInDays,omitempty"`
	RotationType         string `json:"rotationType,omitempty"`
	// FromMaterialID is the current material the proposer saw; a rotation
	// applies only if it is still current, so two proposals of the same
	// rotation (after a leader change, say) rotate once.
	FromMaterialID string `json:"fromMaterialId,omitempty"`
	// DueDate is the NextRotationDate a scheduled rotation carries out.
	DueDate time.Time `json:"dueDate,omitzero"`
	// UsageLimit, for a rotation triggered by usage: the current material
	// must have made at least this many encryptions.
	UsageLimit uint64       `json:"usageLimit,omitempty"`
	Version    *Version     `json:"version,omitempty"`
	Usage      *UsageBatch  `json:"usage,omitempty"`
	Reserve    *Reservation `json:"reserve,omitempty"`
	// Imported material.
	ImportParams *ImportParams `json:"importParams,omitempty"`
	ImportType   string        `json:"importType,omitempty"`
	MaterialID   string        `json:"materialId,omitempty"`
	// Key policies and grants (grants.go).
	Policy  string `json:"policy,omitempty"`
	Grant   *Grant `json:"grant,omitempty"`
	GrantID string `json:"grantId,omitempty"`
	// IAM carries the arguments of the identity ops (identity.go).
	IAM *IdentityMutation `json:"iam,omitempty"`
}

// Encode returns the mutation's replicated encoding.
func (m *Mutation) Encode() ([]byte, error) {
	return json.Marshal(m)
}

// DecodeMutation parses an encoding made by Encode.
func DecodeMutation(b []byte) (*Mutation, error) {
	var m Mutation
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("keystore: decode mutation: %w", err)
	}
	if m.Op == "" {
		return nil, fmt.Errorf("%w: no op", ErrInvalidMutation)
	}
	return &m, nil
}
