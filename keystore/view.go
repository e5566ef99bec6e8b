package keystore

import (
	"slices"
	"time"
)

// view is the in-memory copy of the stored state. Keys and aliases in it
// are immutable: a change replaces the pointer.
type view struct {
	applied    uint64
	keys       map[string]*Key
	keyIDs     []string // sorted
	aliases    map[string]*Alias
	aliasNames []string // sorted
	// byTarget lists, per key id, the names of the aliases pointing to it,
	// sorted.
	byTarget map[string][]string
	// usageSeq is the last usage batch applied per node.
	usageSeq map[string]uint64
	// imports holds import parameters by wrapping key id.
	imports map[string]*ImportParams
	// The audit log: records and signed heads stored, and the signing key.
	logSize uint64
	logInDB bool // records found in the database (written before record files)
	// logSizeStored: the database records the log's size (m/logsize).
	logSizeStored bool
	logPruned     uint64
	headCount     uint64
	logKey        *LogKey
	// members maps a joined member's node id to its API address.
	members map[string]string
	// iam holds the identities (identity_view.go).
	iam identityView
	// grants holds the keys' grants (grants.go).
	grants grantView
}

func newView() *view {
	return &view{
		keys:     make(map[string]*Key),
		aliases:  make(map[string]*Alias),
		byTarget: make(map[string][]string),
		usageSeq: make(map[string]uint64),
		imports:  make(map[string]*ImportParams),
		iam:      newIdentityView(),
		grants:   newGrantView(),
	}
}

// index builds byTarget and sorts the id and name lists after a load.
func (v *view) index() {
	slices.Sort(v.keyIDs)
	slices.Sort(v.aliasNames)
	for _, name := range v.aliasNames {
		t := v.aliases[name].TargetKeyID
		v.byTarget[t] = append(v.byTarget[t], name)
	}
	v.iam.index()
}

// change is the effect of one mutation, computed before it is committed.
type change struct {
	putKeys    []*Key
	delKeys    []string
	putAliases []*Alias
	delAliases []string
	usage      map[string]uint64
	putImports []*ImportParams
	delImports []string
	iam        *identityChange
	grants     *grantChange
}

// apply makes c part of v.
func (v *view) apply(c change) {
	if c.iam != nil {
		v.iam.apply(c.iam)
	}
	if c.grants != nil {
		v.grants.apply(c.grants)
	}
	for node, seq := range c.usage {
		v.usageSeq[node] = seq
	}
	for _, p := range c.putImports {
		v.imports[p.WrappingKeyID] = p
	}
	for _, id := range c.delImports {
		delete(v.imports, id)
	}
	for _, k := range c.putKeys {
		if _, ok := v.keys[k.ID]; !ok {
			v.keyIDs = insertSorted(v.keyIDs, k.ID)
		}
		v.keys[k.ID] = k
	}
	for _, name := range c.delAliases {
		if a, ok := v.aliases[name]; ok {
			v.unlinkAlias(a)
			delete(v.aliases, name)
			v.aliasNames = removeSorted(v.aliasNames, name)
		}
	}
	for _, id := range c.delKeys {
		delete(v.keys, id)
		v.keyIDs = removeSorted(v.keyIDs, id)
	}
	for _, a := range c.putAliases {
		if old, ok := v.aliases[a.Name]; ok {
			v.unlinkAlias(old)
		} else {
			v.aliasNames = insertSorted(v.aliasNames, a.Name)
		}
		v.aliases[a.Name] = a
		v.byTarget[a.TargetKeyID] = insertSorted(v.byTarget[a.TargetKeyID], a.Name)
	}
}

func (v *view) unlinkAlias(a *Alias) {
	names := removeSorted(v.byTarget[a.TargetKeyID], a.Name)
	if len(names) == 0 {
		delete(v.byTarget, a.TargetKeyID)
		return
	}
	v.byTarget[a.TargetKeyID] = names
}

func insertSorted(s []string, x string) []string {
	i, found := slices.BinarySearch(s, x)
	if found {
		return s
	}
	return slices.Insert(s, i, x)
}

func removeSorted(s []string, x string) []string {
	i, found := slices.BinarySearch(s, x)
	if !found {
		return s
	}
	return slices.Delete(s, i, i+1)
}

// Key returns the key with the given id, or ErrNotFound. It reads memory
// only. The returned key is shared: do not modify it.
func (s *Store) Key(id string) (*Key, error) {
	s.mu.RLock()
	k, ok := s.v.keys[id]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return k, nil
}

// Alias returns the alias with the given name ("alias/..."), or ErrNotFound.
func (s *Store) Alias(name string) (*Alias, error) {
	s.mu.RLock()
	a, ok := s.v.aliases[name]
	s.mu.RUnlock()
	if !ok {
		return nil, ErrNotFound
	}
	return a, nil
}

// KeyCount returns the number of keys, in every state.
func (s *Store) KeyCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.v.keys)
}

// DueForDeletion returns, sorted, the ids of the keys pending deletion
// whose deletion date is not after now. The caller proposes their DeleteKey
// mutations; it scans every key, so call it at most every few seconds.
func (s *Store) DueForDeletion(now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for _, id := range s.v.keyIDs {
		k := s.v.keys[id]
		if k.State == PendingDeletion && !k.DeletionDate.After(now) {
			ids = append(ids, id)
		}
	}
	return ids
}
