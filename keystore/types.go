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
	// Policy is the key policy document (its name is "default"); empty
	// for keys made before key policies existed, which have the default
	// key policy.
	Policy string `json:"policy,omitempty"`
	// Automatic rotation: on when RotationEnabled, every
	// RotationPeriodInDays, next at NextRotationDate.
	RotationEnabled      bool      `json:"rotationEnabled,omitempty"`
	RotationPeriodInDays int32     `json:"rotationPeriodInDays,omitempty"`
	NextRotationDate     time.Time `json:"nextRotationDate,omitzero"`
	// OnDemandRotationStartDate is when the last on-demand rotation was
	// made; OnDemandRotations counts them (AWS allows 10 per key).
	OnDemandRotationStartDate time.Time `json:"onDemandRotationStartDate,omitzero"`
	OnDemandRotations         int32     `json:"onDemandRotations,omitempty"`
	// Versions, oldest first; the last one is used for new encryptions.
	// Empty for an EXTERNAL key awaiting its material.
	Versions []Version `json:"versions,omitempty"`
}

// Current returns the version new encryptions use: the newest one that is
// not waiting for an on-demand rotation. It returns false if the key has no
// usable material.
func (k *Key) Current() (Version, bool) {
	for i := len(k.Versions) - 1; i >= 0; i-- {
		if k.Versions[i].State != MaterialPendingRotation {
			return k.Versions[i], true
		}
	}
	return Version{}, false
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
	// RotationType is "" for a key's first material, RotationAutomatic or
	// RotationOnDemand for material added by a rotation.
	RotationType string `json:"rotationType,omitempty"`
	// State is "" for material in use, MaterialPendingRotation for
	// imported material that the next on-demand rotation makes current.
	State string `json:"state,omitempty"`
	// EncryptionCount counts the encryptions made with this material, as
	// far as they have been reported through the log (see OpAddUsage).
	EncryptionCount uint64 `json:"encryptionCount,omitempty"`
	// Allotted counts the encryptions nodes were allowed to make with this
	// material when a usage limit applies (see OpReserveUsage); per node,
	// AllottedTo holds each node's total and AllotSeq its last request.
	// Uses allotted to a node that stopped before making them are lost, so
	// the material makes at most Allotted encryptions.
	Allotted   uint64            `json:"allotted,omitempty"`
	AllottedTo map[string]uint64 `json:"allottedTo,omitempty"`
	AllotSeq   map[string]uint64 `json:"allotSeq,omitempty"`
	// For imported material: when it expires (ExpirationModel
	// KEY_MATERIAL_EXPIRES) and its description. Wrapped is empty while
	// imported material is deleted or expired; the version stays so that
	// only the same material can be imported again.
	ExpirationModel string    `json:"expirationModel,omitempty"`
	ValidTo         time.Time `json:"validTo,omitzero"`
	Description     string    `json:"description,omitempty"`
}

// Deleted reports whether the version's material was deleted (imported
// material that was deleted or expired).
func (v Version) Deleted() bool { return len(v.Wrapped) == 0 }

// Expiration models of imported material.
const (
	MaterialExpires       = "KEY_MATERIAL_EXPIRES"
	MaterialDoesNotExpire = "KEY_MATERIAL_DOES_NOT_EXPIRE"
)

// ImportParams is a wrapping key pair made for one import into one key
// (GetParametersForImport). The private key is stored wrapped under the
// root key, so any node can complete the import; it expires at ValidTo.
type ImportParams struct {
	WrappingKeyID     string    `json:"wrappingKeyId"`
	KeyID             string    `json:"keyId"`
	Algorithm         string    `json:"algorithm"`
	Spec              string    `json:"spec"`
	WrappedPrivateKey []byte    `json:"wrappedPrivateKey"`
	PublicKey         []byte    `json:"publicKey"`
	CreationDate      time.Time `json:"creationDate"`
	ValidTo           time.Time `json:"validTo"`
}

// Rotation types and material states, spelled as AWS KMS.
const (
	RotationAutomatic       = "AUTOMATIC"
	RotationOnDemand        = "ON_DEMAND"
	MaterialPendingRotation = "PENDING_ROTATION"
	// MaxOnDemandRotations is AWS KMS's limit per key.
	MaxOnDemandRotations = 10
)

// UsageBatch reports encryptions counted by one node since its previous
// batch. Seq numbers a node's batches from 1; a batch whose Seq is not
// above the last one applied for that node is a duplicate and is ignored,
// so a batch whose outcome was unknown can be proposed again safely.
type UsageBatch struct {
	Node   string       `json:"node"`
	Seq    uint64       `json:"seq"`
	Counts []UsageCount `json:"counts"`
}

// UsageCount is the number of encryptions with one version of one key.
type UsageCount struct {
	KeyID      string `json:"keyId"`
	MaterialID string `json:"materialId"`
	N          uint64 `json:"n"`
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
