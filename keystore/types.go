package keystore

import "time"

// State is a key's state, spelled as AWS KMS spells it.
type State string

// Key states.
const (
	Enabled         State = "Enabled"
	Disabled        State = "Disabled"
	PendingDeletion State = "PendingDeletion"
	PendingImport   State = "PendingImport"
)

// Origins of key material.
const (
	OriginAWSKMS   = "AWS_KMS"
	OriginExternal = "EXTERNAL"
)

// Limits enforced when mutations are applied.
const (
	MaxTagsPerKey    = 50
	MaxAliasesPerKey = 50
)

// Key is a customer master key as stored: metadata and its versions. A *Key
// returned by the Store is shared and immutable; callers must not modify it.
type Key struct {
	ID                  string    `json:"id"`
	Description         string    `json:"description,omitempty"`
	Usage               string    `json:"usage"`
	Spec                string    `json:"spec"`
	Origin              string    `json:"origin"`
	State               State     `json:"state"`
	CreationDate        time.Time `json:"creationDate"`
	DeletionDate        time.Time `json:"deletionDate,omitzero"`
	PendingWindowInDays int32     `json:"pendingWindowInDays,omitempty"`
	ValidTo             time.Time `json:"validTo,omitzero"`
	// Tags sorted by TagKey.
	Tags []Tag `json:"tags,omitempty"`
	// Versions, oldest first; the last one is used for new encryptions.
	// Empty for an EXTERNAL key awaiting its material.
	Versions []Version `json:"versions,omitempty"`
}

// Current returns the version new encryptions use, or false if the key has
// no material.
func (k *Key) Current() (Version, bool) {
	if len(k.Versions) == 0 {
		return Version{}, false
	}
	return k.Versions[len(k.Versions)-1], true
}

// Version returns the version with the given material id.
func (k *Key) Version(materialID string) (Version, bool) {
	for _, v := range k.Versions {
		if v.MaterialID == materialID {
			return v, true
		}
	}
	return Version{}, false
}

// Version is one generation of a key's material. The material itself is
// only ever stored wrapped under the root key.
type Version struct {
	// MaterialID identifies the material (64 lowercase hex digits).
	MaterialID string `json:"materialId"`
	// Wrapped is the key material sealed under the root key; never plaintext.
	Wrapped      []byte    `json:"wrapped"`
	CreationDate time.Time `json:"creationDate"`
}

// Tag is a key/value pair attached to a key.
type Tag struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Alias maps a friendly name ("alias/...") to a key.
type Alias struct {
	Name            string    `json:"name"`
	TargetKeyID     string    `json:"targetKeyId"`
	CreationDate    time.Time `json:"creationDate"`
	LastUpdatedDate time.Time `json:"lastUpdatedDate"`
}
