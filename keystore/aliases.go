package keystore

import "fmt"

func planCreateAlias(v *view, m *Mutation) (change, error) {
	if m.AliasName == "" {
		return change{}, fmt.Errorf("%w: %s without an alias name", ErrInvalidMutation, m.Op)
	}
	if _, ok := v.aliases[m.AliasName]; ok {
		return change{}, fmt.Errorf("%s: alias %q: %w", m.Op, m.AliasName, ErrAlreadyExists)
	}
	if err := v.checkAliasTarget(m); err != nil {
		return change{}, err
	}
	a := &Alias{
		Name:            m.AliasName,
		TargetKeyID:     m.KeyID,
		CreationDate:    m.Time.UTC(),
		LastUpdatedDate: m.Time.UTC(),
	}
	return change{putAliases: []*Alias{a}}, nil
}

func planUpdateAlias(v *view, m *Mutation) (change, error) {
	if m.AliasName == "" {
		return change{}, fmt.Errorf("%w: %s without an alias name", ErrInvalidMutation, m.Op)
	}
	old, ok := v.aliases[m.AliasName]
	if !ok {
		return change{}, fmt.Errorf("%s: alias %q: %w", m.Op, m.AliasName, ErrNotFound)
	}
	if old.TargetKeyID != m.KeyID {
		if err := v.checkAliasTarget(m); err != nil {
			return change{}, err
		}
	} else if _, err := v.mutableKey(m); err != nil {
		return change{}, err
	}
	a := *old
	a.TargetKeyID = m.KeyID
	a.LastUpdatedDate = m.Time.UTC()
	return change{putAliases: []*Alias{&a}}, nil
}

func planDeleteAlias(v *view, m *Mutation) (change, error) {
	if _, ok := v.aliases[m.AliasName]; !ok {
		return change{}, fmt.Errorf("%s: alias %q: %w", m.Op, m.AliasName, ErrNotFound)
	}
	return change{delAliases: []string{m.AliasName}}, nil
}

// checkAliasTarget checks that the key m names exists, is not pending
// deletion and can take one more alias.
func (v *view) checkAliasTarget(m *Mutation) error {
	if _, err := v.mutableKey(m); err != nil {
		return err
	}
	if len(v.byTarget[m.KeyID]) >= MaxAliasesPerKey {
		return fmt.Errorf("%s: key %q has %d aliases: %w", m.Op, m.KeyID, MaxAliasesPerKey, ErrLimitExceeded)
	}
	return nil
}
