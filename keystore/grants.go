package keystore

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Key policies and grants. A key's policy document is a field of its
// record (Key.Policy, set by CreateKey and OpPutKeyPolicy; empty for keys
// made before policies existed, which the server reads as the default
// policy). Grants are records of their own, "g/<key id>/<grant id>", so
// that a key with many grants is not rewritten by each one; the view
// indexes them by key, by grantee and by retiring principal. Deleting a
// key deletes its grants.
const prefixGrant = "g/"

// Key policy and grant mutations.
const (
	OpPutKeyPolicy Op = "PutKeyPolicy" // KeyID, Policy
	OpCreateGrant  Op = "CreateGrant"  // KeyID, Grant
	OpRetireGrant  Op = "RetireGrant"  // KeyID, GrantID
	OpRevokeGrant  Op = "RevokeGrant"  // KeyID, GrantID
)

// MaxGrantsPerKey is AWS KMS's limit of grants on one key.
const MaxGrantsPerKey = 50000

// Grant is a grant on a key, as CreateGrant made it.
type Grant struct {
	KeyID             string    `json:"keyId"`
	GrantID           string    `json:"grantId"`
	Name              string    `json:"name,omitempty"`
	CreationDate      time.Time `json:"creationDate"`
	GranteePrincipal  string    `json:"granteePrincipal"`
	RetiringPrincipal string    `json:"retiringPrincipal,omitempty"`
	IssuingAccount    string    `json:"issuingAccount"`
	// Operations, in the order CreateGrant was given them.
	Operations []string `json:"operations"`
	// At most one of the two constraints is set (nil: none).
	EncryptionContextEquals map[string]string `json:"encryptionContextEquals,omitempty"`
	EncryptionContextSubset map[string]string `json:"encryptionContextSubset,omitempty"`
}

// SameAs reports whether g and o have the same name and parameters: a
// CreateGrant with a Name that repeats an existing grant's returns it.
func (g *Grant) SameAs(o *Grant) bool {
	return g.KeyID == o.KeyID && g.Name == o.Name && g.GranteePrincipal == o.GranteePrincipal &&
		g.RetiringPrincipal == o.RetiringPrincipal && slices.Equal(g.Operations, o.Operations) &&
		(g.EncryptionContextEquals == nil) == (o.EncryptionContextEquals == nil) &&
		maps.Equal(g.EncryptionContextEquals, o.EncryptionContextEquals) &&
		(g.EncryptionContextSubset == nil) == (o.EncryptionContextSubset == nil) &&
		maps.Equal(g.EncryptionContextSubset, o.EncryptionContextSubset)
}

func planPutKeyPolicy(v *view, m *Mutation) (change, error) {
	if m.Policy == "" {
		return change{}, fmt.Errorf("%w: %s without a policy", ErrInvalidMutation, m.Op)
	}
	k, err := v.key(m)
	if err != nil {
		return change{}, err
	}
	k = cloneKey(k)
	k.Policy = m.Policy
	return change{putKeys: []*Key{k}}, nil
}

// planCreateGrant adds m.Grant to its key. A grant whose id exists
// already, or that has a Name and the same parameters as an existing
// grant, changes nothing (CreateGrant is idempotent by name).
func planCreateGrant(v *view, m *Mutation) (change, error) {
	g := m.Grant
	if g == nil || g.GrantID == "" || g.KeyID == "" || g.KeyID != m.KeyID || g.GranteePrincipal == "" || len(g.Operations) == 0 {
		return change{}, fmt.Errorf("%w: %s without a grant id, key, grantee or operations", ErrInvalidMutation, m.Op)
	}
	k, err := v.mutableKey(m)
	if err != nil {
		return change{}, err
	}
	kg := v.grants.byKey[k.ID]
	if kg[g.GrantID] != nil {
		return change{}, nil
	}
	if g.Name != "" {
		for _, o := range kg {
			if o.SameAs(g) {
				return change{}, nil
			}
		}
	}
	if len(kg) >= MaxGrantsPerKey {
		return change{}, fmt.Errorf("%s: key %q has %d grants, at most %d allowed: %w", m.Op, k.ID, len(kg), MaxGrantsPerKey, ErrLimitExceeded)
	}
	c := *g
	c.CreationDate = g.CreationDate.UTC()
	return change{grants: &grantChange{put: []*Grant{&c}}}, nil
}

func planDeleteGrant(v *view, m *Mutation) (change, error) {
	if _, err := v.key(m); err != nil {
		return change{}, err
	}
	g := v.grants.byKey[m.KeyID][m.GrantID]
	if g == nil {
		return change{}, fmt.Errorf("%s: grant %q of key %q: %w", m.Op, m.GrantID, m.KeyID, ErrNotFound)
	}
	return change{grants: &grantChange{del: []*Grant{g}}}, nil
}

// grantView holds the grants in memory. Grants are immutable.
type grantView struct {
	// byKey maps a key id to its grants by grant id.
	byKey map[string]map[string]*Grant
	// byGrantee and byRetiring map a principal to "<key id>/<grant id>"
	// of its grants, sorted.
	byGrantee  map[string][]string
	byRetiring map[string][]string
}

func newGrantView() grantView {
	return grantView{byKey: map[string]map[string]*Grant{}, byGrantee: map[string][]string{}, byRetiring: map[string][]string{}}
}

// grantChange is the effect of a grant mutation.
type grantChange struct {
	put, del []*Grant
}

func grantRef(g *Grant) string { return g.KeyID + "/" + g.GrantID }

func (gv *grantView) add(g *Grant) {
	if gv.byKey[g.KeyID] == nil {
		gv.byKey[g.KeyID] = map[string]*Grant{}
	}
	gv.byKey[g.KeyID][g.GrantID] = g
	gv.byGrantee[g.GranteePrincipal] = insertSorted(gv.byGrantee[g.GranteePrincipal], grantRef(g))
	if g.RetiringPrincipal != "" {
		gv.byRetiring[g.RetiringPrincipal] = insertSorted(gv.byRetiring[g.RetiringPrincipal], grantRef(g))
	}
}

func (gv *grantView) remove(g *Grant) {
	delete(gv.byKey[g.KeyID], g.GrantID)
	if len(gv.byKey[g.KeyID]) == 0 {
		delete(gv.byKey, g.KeyID)
	}
	unindex(gv.byGrantee, g.GranteePrincipal, grantRef(g))
	if g.RetiringPrincipal != "" {
		unindex(gv.byRetiring, g.RetiringPrincipal, grantRef(g))
	}
}

func unindex(m map[string][]string, k, ref string) {
	if refs := removeSorted(m[k], ref); len(refs) > 0 {
		m[k] = refs
	} else {
		delete(m, k)
	}
}

func (gv *grantView) apply(c *grantChange) {
	for _, g := range c.del {
		gv.remove(g)
	}
	for _, g := range c.put {
		gv.add(g)
	}
}

func (gv *grantView) load(key string, val []byte) error {
	g := new(Grant)
	if err := json.Unmarshal(val, g); err != nil {
		return fmt.Errorf("record %q: %w", key, err)
	}
	gv.add(g)
	return nil
}

func (c *grantChange) commit(txn *badger.Txn) error {
	for _, g := range c.del {
		if err := txn.Delete([]byte(prefixGrant + grantRef(g))); err != nil {
			return err
		}
	}
	for _, g := range c.put {
		if err := setJSON(txn, prefixGrant+grantRef(g), g); err != nil {
			return err
		}
	}
	return nil
}

// deleteKeyGrants is the part of deleting a key that removes its grants.
func (gv *grantView) deleteKeyGrants(keyID string) *grantChange {
	kg := gv.byKey[keyID]
	if len(kg) == 0 {
		return nil
	}
	c := &grantChange{}
	for _, id := range slices.Sorted(maps.Keys(kg)) {
		c.del = append(c.del, kg[id])
	}
	return c
}

// digest feeds every grant, in record key order, to field.
func (gv *grantView) digest(field func([]byte)) {
	for _, keyID := range slices.Sorted(maps.Keys(gv.byKey)) {
		kg := gv.byKey[keyID]
		for _, id := range slices.Sorted(maps.Keys(kg)) {
			b, _ := json.Marshal(kg[id]) // cannot fail: it was encoded when applied
			field([]byte(prefixGrant + keyID + "/" + id))
			field(b)
		}
	}
}

// isGrantRecord reports whether a stored record is a grant's.
func isGrantRecord(key string) bool { return strings.HasPrefix(key, prefixGrant) }
