package keystore

import (
	"fmt"
	"time"
)

// Rotation follows AWS KMS: automatic rotation every RotationPeriodInDays
// for keys with AWS_KMS material, on-demand rotation (at most
// MaxOnDemandRotations per key), and for EXTERNAL keys on-demand rotation
// to material imported beforehand as PENDING_ROTATION. A rotation adds a
// version; old versions stay for decryption.

func planEnableKeyRotation(v *view, m *Mutation) (change, error) {
	if m.RotationPeriodInDays <= 0 {
		return change{}, fmt.Errorf("%w: %s without a period", ErrInvalidMutation, m.Op)
	}
	k, err := v.enabledKey(m)
	if err != nil {
		return change{}, err
	}
	if k.Origin != OriginAWSKMS {
		return change{}, invalidState(m.Op, k)
	}
	k = cloneKey(k)
	k.RotationEnabled = true
	k.RotationPeriodInDays = m.RotationPeriodInDays
	k.NextRotationDate = m.Time.UTC().AddDate(0, 0, int(m.RotationPeriodInDays))
	return change{putKeys: []*Key{k}}, nil
}

func planDisableKeyRotation(v *view, m *Mutation) (change, error) {
	k, err := v.enabledKey(m)
	if err != nil {
		return change{}, err
	}
	k = cloneKey(k)
	k.RotationEnabled = false
	k.NextRotationDate = time.Time{}
	return change{putKeys: []*Key{k}}, nil
}

// enabledKey returns the Enabled key m names, or ErrInvalidState.
func (v *view) enabledKey(m *Mutation) (*Key, error) {
	k, err := v.key(m)
	if err != nil {
		return nil, err
	}
	if k.State != Enabled {
		return nil, invalidState(m.Op, k)
	}
	return k, nil
}

func planRotateKey(v *view, m *Mutation) (change, error) {
	k, err := v.enabledKey(m)
	if err != nil {
		return change{}, err
	}
	cur, ok := k.Current()
	if !ok || cur.MaterialID != m.FromMaterialID {
		return change{}, fmt.Errorf("%s: key %q: current material is not %q: %w", m.Op, k.ID, m.FromMaterialID, ErrInvalidState)
	}
	switch {
	case m.RotationType == RotationAutomatic:
		if err := checkAutomatic(k, cur, m); err != nil {
			return change{}, err
		}
	case m.RotationType == RotationOnDemand:
		if k.OnDemandRotations >= MaxOnDemandRotations {
			return change{}, fmt.Errorf("%s: key %q: %w", m.Op, k.ID, ErrLimitExceeded)
		}
	default:
		return change{}, fmt.Errorf("%w: rotation type %q", ErrInvalidMutation, m.RotationType)
	}
	k = cloneKey(k)
	if err := addRotatedVersion(k, m); err != nil {
		return change{}, err
	}
	if m.RotationType == RotationOnDemand {
		k.OnDemandRotations++
		k.OnDemandRotationStartDate = m.Time.UTC()
	} else if k.RotationEnabled {
		k.NextRotationDate = m.Time.UTC().AddDate(0, 0, int(k.RotationPeriodInDays))
	}
	return change{putKeys: []*Key{k}}, nil
}

// checkAutomatic refuses an automatic rotation that is not (or no longer)
// due: by date, the key's NextRotationDate must be the one the proposer
// saw and must have passed; by usage, the current material must have
// reached the limit.
func checkAutomatic(k *Key, cur Version, m *Mutation) error {
	switch {
	case m.UsageLimit > 0 && max(cur.EncryptionCount, cur.Allotted) >= m.UsageLimit:
		return nil
	case m.UsageLimit == 0 && k.RotationEnabled && k.NextRotationDate.Equal(m.DueDate) && !m.Time.Before(m.DueDate):
		return nil
	}
	return fmt.Errorf("%s: key %q: rotation not due: %w", m.Op, k.ID, ErrInvalidState)
}

// addRotatedVersion adds m.Version to k, or for a key of imported
// material promotes the version pending rotation.
func addRotatedVersion(k *Key, m *Mutation) error {
	if k.Origin == OriginExternal {
		if m.RotationType != RotationOnDemand || m.Version != nil {
			return fmt.Errorf("%s: key %q: %w", m.Op, k.ID, ErrInvalidState)
		}
		return promotePending(k, m.Time)
	}
	if m.Version == nil || m.Version.MaterialID == "" || len(m.Version.Wrapped) == 0 {
		return fmt.Errorf("%w: %s without new material", ErrInvalidMutation, m.Op)
	}
	if _, dup := k.Version(m.Version.MaterialID); dup {
		return fmt.Errorf("%s: key %q: material exists: %w", m.Op, k.ID, ErrAlreadyExists)
	}
	nv := *m.Version
	nv.RotationType, nv.State, nv.EncryptionCount = m.RotationType, "", 0
	nv.CreationDate = nv.CreationDate.UTC()
	k.Versions = append(k.Versions, nv)
	return nil
}

// promotePending makes the version pending rotation the newest, current one.
func promotePending(k *Key, now time.Time) error {
	for i, ver := range k.Versions {
		if ver.State == MaterialPendingRotation {
			ver.State, ver.RotationType, ver.CreationDate = "", RotationOnDemand, now.UTC()
			k.Versions = append(append(k.Versions[:i:i], k.Versions[i+1:]...), ver)
			return nil
		}
	}
	return fmt.Errorf("%s: key %q has no material pending rotation: %w", OpRotateKey, k.ID, ErrInvalidState)
}

// RotationDue is a rotation the scheduler should propose.
type RotationDue struct {
	KeyID          string
	FromMaterialID string
	// DueDate is set for a scheduled rotation, UsageLimit for one
	// triggered by usage.
	DueDate    time.Time
	UsageLimit uint64
}

// DueForRotation lists the Enabled keys whose automatic rotation is due at
// now, and, when usageLimit > 0, the Enabled AWS_KMS keys whose current
// material has made at least usageLimit encryptions. It scans every key.
func (s *Store) DueForRotation(now time.Time, usageLimit uint64) []RotationDue {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var due []RotationDue
	for _, id := range s.v.keyIDs {
		k := s.v.keys[id]
		cur, ok := k.Current()
		if k.State != Enabled || k.Origin != OriginAWSKMS || !ok {
			continue
		}
		switch {
		case k.RotationEnabled && !k.NextRotationDate.After(now):
			due = append(due, RotationDue{KeyID: id, FromMaterialID: cur.MaterialID, DueDate: k.NextRotationDate})
		case usageLimit > 0 && max(cur.EncryptionCount, cur.Allotted) >= usageLimit:
			due = append(due, RotationDue{KeyID: id, FromMaterialID: cur.MaterialID, UsageLimit: usageLimit})
		}
	}
	return due
}
