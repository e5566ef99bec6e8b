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
