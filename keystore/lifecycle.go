package keystore

import (
	"fmt"
	"slices"
	"time"
)

// The key-state rules follow AWS KMS's key state table: a key pending
// deletion can only have its deletion cancelled (or completed), and a key
// pending import can be neither enabled nor disabled.

func planCreateKey(v *view, m *Mutation) (change, error) {
	if m.Key == nil || m.Key.ID == "" {
		return change{}, fmt.Errorf("%w: %s without a key id", ErrInvalidMutation, m.Op)
	}
	if m.Key.State != Enabled && m.Key.State != PendingImport {
		return change{}, fmt.Errorf("%w: %s in state %q", ErrInvalidMutation, m.Op, m.Key.State)
	}
	if _, ok := v.keys[m.Key.ID]; ok {
		return change{}, fmt.Errorf("%s: key %q: %w", m.Op, m.Key.ID, ErrAlreadyExists)
	}
	k := cloneKey(m.Key)
	tags, err := mergeTags(nil, k.Tags)
	if err != nil {
		return change{}, fmt.Errorf("%s: key %q: %w", m.Op, k.ID, err)
	}
	k.Tags = tags
	return change{putKeys: []*Key{k}}, nil
}

func planUpdateDescription(v *view, m *Mutation) (change, error) {
	k, err := v.mutableKey(m)
	if err != nil {
		return change{}, err
	}
	k.Description = m.Description
	return change{putKeys: []*Key{k}}, nil
}

func planEnableKey(v *view, m *Mutation) (change, error) {
	return setEnabled(v, m, Enabled)
}

func planDisableKey(v *view, m *Mutation) (change, error) {
	return setEnabled(v, m, Disabled)
}

// setEnabled moves a key between Enabled and Disabled; a key already in the
// wanted state is left alone.
func setEnabled(v *view, m *Mutation, to State) (change, error) {
	k, err := v.key(m)
	if err != nil {
		return change{}, err
	}
	switch k.State {
	case to:
		return change{}, nil
	case Enabled, Disabled:
		k = cloneKey(k)
		k.State = to
		return change{putKeys: []*Key{k}}, nil
	default:
		return change{}, invalidState(m.Op, k)
	}
}

func planScheduleKeyDeletion(v *view, m *Mutation) (change, error) {
	if m.DeletionDate.IsZero() {
		return change{}, fmt.Errorf("%w: %s without a deletion date", ErrInvalidMutation, m.Op)
	}
	k, err := v.mutableKey(m)
	if err != nil {
		return change{}, err
	}
	k.State = PendingDeletion
	k.DeletionDate = m.DeletionDate.UTC()
	k.PendingWindowInDays = m.PendingWindowInDays
	return change{putKeys: []*Key{k}}, nil
}

func planCancelKeyDeletion(v *view, m *Mutation) (change, error) {
	k, err := v.key(m)
	if err != nil {
		return change{}, err
	}
	if k.State != PendingDeletion {
		return change{}, invalidState(m.Op, k)
	}
	k = cloneKey(k)
	k.State = Disabled
	if len(k.Versions) == 0 {
		k.State = PendingImport
	}
	k.DeletionDate = time.Time{}
	k.PendingWindowInDays = 0
	return change{putKeys: []*Key{k}}, nil
}

// planDeleteKey removes the key, its versions, aliases and grants for good.
func planDeleteKey(v *view, m *Mutation) (change, error) {
	k, err := v.key(m)
	if err != nil {
		return change{}, err
	}
	if k.State != PendingDeletion || m.Time.Before(k.DeletionDate) {
		return change{}, fmt.Errorf("%s: key %q is %s until %s: %w",
			m.Op, k.ID, k.State, k.DeletionDate.Format(time.RFC3339), ErrInvalidState)
	}
	return change{
		delKeys:    []string{k.ID},
		delAliases: slices.Clone(v.byTarget[k.ID]),
		grants:     v.grants.deleteKeyGrants(k.ID),
	}, nil
}

// key returns the key m names, or ErrNotFound.
func (v *view) key(m *Mutation) (*Key, error) {
	if m.KeyID == "" {
		return nil, fmt.Errorf("%w: %s without a key id", ErrInvalidMutation, m.Op)
	}
	k, ok := v.keys[m.KeyID]
	if !ok {
		return nil, fmt.Errorf("%s: key %q: %w", m.Op, m.KeyID, ErrNotFound)
	}
	return k, nil
}

// mutableKey returns a copy of the key m names, to be changed, unless the
// key is pending deletion (ErrInvalidState) or missing.
func (v *view) mutableKey(m *Mutation) (*Key, error) {
	k, err := v.key(m)
	if err != nil {
		return nil, err
	}
	if k.State == PendingDeletion {
		return nil, invalidState(m.Op, k)
	}
	return cloneKey(k), nil
}

func invalidState(op Op, k *Key) error {
	return fmt.Errorf("%s: key %q is %s: %w", op, k.ID, k.State, ErrInvalidState)
}

// cloneKey returns a deep copy of k with its times in UTC, so that a key
// applied and a key loaded from disk are equal.
func cloneKey(k *Key) *Key {
	c := *k
	c.CreationDate = k.CreationDate.UTC()
	c.DeletionDate = k.DeletionDate.UTC()
	c.ValidTo = k.ValidTo.UTC()
	c.Tags = slices.Clone(k.Tags)
	c.Versions = make([]Version, len(k.Versions))
	for i, ver := range k.Versions {
		ver.Wrapped = slices.Clone(ver.Wrapped)
		ver.CreationDate = ver.CreationDate.UTC()
		c.Versions[i] = ver
	}
	if len(k.Versions) == 0 {
		c.Versions = nil
	}
	return &c
}
