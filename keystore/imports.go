package keystore

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Imported material follows AWS KMS: an EXTERNAL key is PendingImport
// until material is imported; importing again must bring the same
// material; material imported with ImportType NEW_KEY_MATERIAL waits as
// PENDING_ROTATION for an on-demand rotation; deleting or expiring the
// current material puts the key back in PendingImport.

// Import types, spelled as AWS KMS.
const (
	ImportNewMaterial      = "NEW_KEY_MATERIAL"
	ImportExistingMaterial = "EXISTING_KEY_MATERIAL"
)

// prefixImport keys import parameters: "i/<wrapping key id>".
const prefixImport = "i/"

// maxImportParamsPerKey bounds the wrapping keys kept per key.
const maxImportParamsPerKey = 16

func planAddImportParams(v *view, m *Mutation) (change, error) {
	p := m.ImportParams
	if p == nil || p.WrappingKeyID == "" || len(p.WrappedPrivateKey) == 0 || p.ValidTo.IsZero() {
		return change{}, fmt.Errorf("%w: %s without parameters", ErrInvalidMutation, m.Op)
	}
	k, err := v.externalKey(m)
	if err != nil {
		return change{}, err
	}
	if _, dup := v.imports[p.WrappingKeyID]; dup {
		return change{}, fmt.Errorf("%s: wrapping key %q: %w", m.Op, p.WrappingKeyID, ErrAlreadyExists)
	}
	c := change{}
	kept := 0
	for _, old := range v.importsOf(k.ID) {
		if !old.ValidTo.After(m.Time) || kept >= maxImportParamsPerKey-1 {
			c.delImports = append(c.delImports, old.WrappingKeyID)
			continue
		}
		kept++
	}
	np := *p
	np.KeyID, np.CreationDate, np.ValidTo = k.ID, m.Time.UTC(), p.ValidTo.UTC()
	c.putImports = []*ImportParams{&np}
	return c, nil
}

// externalKey returns the EXTERNAL key m names, unless it is pending
// deletion.
func (v *view) externalKey(m *Mutation) (*Key, error) {
	k, err := v.key(m)
	if err != nil {
		return nil, err
	}
	if k.Origin != OriginExternal || k.State == PendingDeletion {
		return nil, invalidState(m.Op, k)
	}
	return k, nil
}

// importsOf lists the import parameters of a key, newest first.
func (v *view) importsOf(keyID string) []*ImportParams {
	var out []*ImportParams
	for _, p := range v.imports {
		if p.KeyID == keyID {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *ImportParams) int {
		if c := b.CreationDate.Compare(a.CreationDate); c != 0 {
			return c
		}
		return strings.Compare(a.WrappingKeyID, b.WrappingKeyID)
	})
	return out
}

func planImportKeyMaterial(v *view, m *Mutation) (change, error) {
	nv := m.Version
	if nv == nil || nv.MaterialID == "" || nv.Deleted() {
		return change{}, fmt.Errorf("%w: %s without material", ErrInvalidMutation, m.Op)
	}
	k, err := v.externalKey(m)
	if err != nil {
		return change{}, err
	}
	k = cloneKey(k)
	imported := *nv
	imported.CreationDate, imported.ValidTo = m.Time.UTC(), nv.ValidTo.UTC()
	i := slices.IndexFunc(k.Versions, func(x Version) bool { return x.MaterialID == nv.MaterialID })
	switch {
	case i >= 0: // the same material again: restore it, with the new expiry
		imported.RotationType, imported.State = k.Versions[i].RotationType, k.Versions[i].State
		imported.CreationDate, imported.EncryptionCount = k.Versions[i].CreationDate, k.Versions[i].EncryptionCount
		k.Versions[i] = imported
	case len(k.Versions) == 0:
		k.Versions = []Version{imported}
	case m.ImportType == ImportNewMaterial:
		if hasPendingRotation(k) {
			return change{}, fmt.Errorf("%s: key %q already has material pending rotation: %w", m.Op, k.ID, ErrInvalidState)
		}
		imported.State = MaterialPendingRotation
		k.Versions = append(k.Versions, imported)
	default:
		return change{}, fmt.Errorf("%s: key %q: %w", m.Op, k.ID, ErrIncorrectMaterial)
	}
	if cur, ok := k.Current(); ok && !cur.Deleted() && k.State == PendingImport {
		k.State = Enabled
	}
	k.ValidTo = currentValidTo(k)
	return change{putKeys: []*Key{k}}, nil
}

func hasPendingRotation(k *Key) bool {
	return slices.ContainsFunc(k.Versions, func(x Version) bool { return x.State == MaterialPendingRotation })
}

func currentValidTo(k *Key) time.Time {
	if cur, ok := k.Current(); ok && !cur.Deleted() {
		return cur.ValidTo
	}
	return time.Time{}
}

func planDeleteImportedKeyMaterial(v *view, m *Mutation) (change, error) {
	k, err := v.externalKey(m)
	if err != nil {
		return change{}, err
	}
	return deleteMaterial(k, m, func(x Version) bool {
		return !x.Deleted() && (m.MaterialID == "" || x.MaterialID == m.MaterialID)
	})
}

// planExpireKeyMaterial deletes material whose ValidTo has passed; DueDate
// must be the ValidTo the proposer saw, so a re-import with a later expiry
// is not undone by an old proposal.
func planExpireKeyMaterial(v *view, m *Mutation) (change, error) {
	k, err := v.externalKey(m)
	if err != nil {
		return change{}, err
	}
	if m.Time.Before(m.DueDate) {
		return change{}, fmt.Errorf("%s: key %q: not expired: %w", m.Op, k.ID, ErrInvalidState)
	}
	return deleteMaterial(k, m, func(x Version) bool {
		return !x.Deleted() && x.MaterialID == m.MaterialID && x.ExpirationModel == MaterialExpires && x.ValidTo.Equal(m.DueDate)
	})
}

// deleteMaterial wipes the versions of k that match; if the current one
// goes, the key goes to PendingImport.
func deleteMaterial(k *Key, m *Mutation, match func(Version) bool) (change, error) {
	k = cloneKey(k)
	n := 0
	for i := range k.Versions {
		if match(k.Versions[i]) {
			k.Versions[i].Wrapped, k.Versions[i].ValidTo = nil, time.Time{}
			n++
		}
	}
	if n == 0 {
		return change{}, fmt.Errorf("%s: key %q: no such material: %w", m.Op, k.ID, ErrNotFound)
	}
	if cur, ok := k.Current(); !ok || cur.Deleted() {
		k.State = PendingImport
	}
	k.ValidTo = currentValidTo(k)
	return change{putKeys: []*Key{k}}, nil
}

// ImportParams returns the import parameters with the given wrapping key
// id, or ErrNotFound.
func (s *Store) ImportParams(wrappingKeyID string) (*ImportParams, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	p, ok := s.v.imports[wrappingKeyID]
	if !ok {
		return nil, ErrNotFound
	}
	return p, nil
}

// ExpiryDue is imported material whose ValidTo has passed.
type ExpiryDue struct {
	KeyID, MaterialID string
	ValidTo           time.Time
}

// DueForExpiry lists imported material that expires at or before now.
func (s *Store) DueForExpiry(now time.Time) []ExpiryDue {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var due []ExpiryDue
	for _, id := range s.v.keyIDs {
		k := s.v.keys[id]
		if k.Origin != OriginExternal || k.State == PendingDeletion {
			continue
		}
		for _, x := range k.Versions {
			if !x.Deleted() && x.ExpirationModel == MaterialExpires && !x.ValidTo.After(now) {
				due = append(due, ExpiryDue{KeyID: id, MaterialID: x.MaterialID, ValidTo: x.ValidTo})
			}
		}
	}
	return due
}
