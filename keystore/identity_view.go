package keystore

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	badger "github.com/dgraph-io/badger/v4"
)

// identityView is the in-memory copy of the identity records. Records are
// immutable: a change replaces the pointer. Maps are keyed by the folded
// name (access keys by id).
type identityView struct {
	users  map[string]*User
	groups map[string]*Group
	roles  map[string]*Role
	keys   map[string]*AccessKey
	mfa    map[string]*MFADevice // by serial number
	// keysOf and groupsOf index access key ids and folded group names by
	// folded user name, sorted.
	keysOf   map[string][]string
	groupsOf map[string][]string
}

func newIdentityView() identityView {
	return identityView{
		users: map[string]*User{}, groups: map[string]*Group{}, roles: map[string]*Role{},
		keys: map[string]*AccessKey{}, mfa: map[string]*MFADevice{}, keysOf: map[string][]string{}, groupsOf: map[string][]string{},
	}
}

// identityChange is the effect of an identity mutation.
type identityChange struct {
	putUsers  []*User
	delUsers  []string // folded names
	putGroups []*Group
	delGroups []string
	putRoles  []*Role
	delRoles  []string
	putKeys   []*AccessKey
	delKeys   []string // access key ids
	putMFA    []*MFADevice
	delMFA    []string // serial numbers
}

// isIdentityRecord reports whether a stored record is an identity's.
func isIdentityRecord(key string) bool {
	return strings.HasPrefix(key, "iam/")
}

// loadIdentity adds one stored identity record to iv; index finishes.
func (iv *identityView) load(key string, val []byte) error {
	var err error
	switch {
	case strings.HasPrefix(key, prefixIAMUser):
		u := new(User)
		if err = json.Unmarshal(val, u); err == nil {
			iv.users[fold(u.UserName)] = u
		}
	case strings.HasPrefix(key, prefixIAMGroup):
		g := new(Group)
		if err = json.Unmarshal(val, g); err == nil {
			iv.groups[fold(g.GroupName)] = g
		}
	case strings.HasPrefix(key, prefixIAMRole):
		r := new(Role)
		if err = json.Unmarshal(val, r); err == nil {
			iv.roles[fold(r.RoleName)] = r
		}
	case strings.HasPrefix(key, prefixIAMKey):
		k := new(AccessKey)
		if err = json.Unmarshal(val, k); err == nil {
			iv.keys[k.AccessKeyID] = k
		}
	case strings.HasPrefix(key, prefixIAMMFA):
		d := new(MFADevice)
		if err = json.Unmarshal(val, d); err == nil {
			iv.mfa[d.SerialNumber] = d
		}
	default:
		return fmt.Errorf("unknown record %q", key)
	}
	if err != nil {
		return fmt.Errorf("record %q: %w", key, err)
	}
	return nil
}

// index builds keysOf and groupsOf after a load.
func (iv *identityView) index() {
	for id, k := range iv.keys {
		u := fold(k.UserName)
		iv.keysOf[u] = insertSorted(iv.keysOf[u], id)
	}
	for gname, g := range iv.groups {
		for _, m := range g.Members {
			iv.groupsOf[fold(m)] = insertSorted(iv.groupsOf[fold(m)], gname)
		}
	}
}

// apply makes c part of iv.
func (iv *identityView) apply(c *identityChange) {
	for _, id := range c.delKeys {
		if k, ok := iv.keys[id]; ok {
			iv.unlinkKey(k)
			delete(iv.keys, id)
		}
	}
	for _, name := range c.delGroups {
		if g, ok := iv.groups[name]; ok {
			iv.unlinkGroup(g)
			delete(iv.groups, name)
		}
	}
	for _, name := range c.delUsers {
		delete(iv.users, name)
	}
	for _, name := range c.delRoles {
		delete(iv.roles, name)
	}
	for _, serial := range c.delMFA {
		delete(iv.mfa, serial)
	}
	for _, d := range c.putMFA {
		iv.mfa[d.SerialNumber] = d
	}
	for _, u := range c.putUsers {
		iv.users[fold(u.UserName)] = u
	}
	for _, r := range c.putRoles {
		iv.roles[fold(r.RoleName)] = r
	}
	for _, g := range c.putGroups {
		name := fold(g.GroupName)
		if old, ok := iv.groups[name]; ok {
			iv.unlinkGroup(old)
		}
		iv.groups[name] = g
		for _, m := range g.Members {
			iv.groupsOf[fold(m)] = insertSorted(iv.groupsOf[fold(m)], name)
		}
	}
	for _, k := range c.putKeys {
		if old, ok := iv.keys[k.AccessKeyID]; ok {
			iv.unlinkKey(old)
		}
		iv.keys[k.AccessKeyID] = k
		u := fold(k.UserName)
		iv.keysOf[u] = insertSorted(iv.keysOf[u], k.AccessKeyID)
	}
}

func (iv *identityView) unlinkKey(k *AccessKey) {
	u := fold(k.UserName)
	if ids := removeSorted(iv.keysOf[u], k.AccessKeyID); len(ids) > 0 {
		iv.keysOf[u] = ids
	} else {
		delete(iv.keysOf, u)
	}
}

func (iv *identityView) unlinkGroup(g *Group) {
	name := fold(g.GroupName)
	for _, m := range g.Members {
		u := fold(m)
		if names := removeSorted(iv.groupsOf[u], name); len(names) > 0 {
			iv.groupsOf[u] = names
		} else {
			delete(iv.groupsOf, u)
		}
	}
}

// commit writes c in txn.
func (c *identityChange) commit(txn *badger.Txn) error {
	for _, name := range c.delUsers {
		if err := txn.Delete([]byte(prefixIAMUser + name)); err != nil {
			return err
		}
	}
	for _, name := range c.delGroups {
		if err := txn.Delete([]byte(prefixIAMGroup + name)); err != nil {
			return err
		}
	}
	for _, name := range c.delRoles {
		if err := txn.Delete([]byte(prefixIAMRole + name)); err != nil {
			return err
		}
	}
	for _, id := range c.delKeys {
		if err := txn.Delete([]byte(prefixIAMKey + id)); err != nil {
			return err
		}
	}
	for _, u := range c.putUsers {
		if err := setJSON(txn, prefixIAMUser+fold(u.UserName), u); err != nil {
			return err
		}
	}
	for _, g := range c.putGroups {
		if err := setJSON(txn, prefixIAMGroup+fold(g.GroupName), g); err != nil {
			return err
		}
	}
	for _, r := range c.putRoles {
		if err := setJSON(txn, prefixIAMRole+fold(r.RoleName), r); err != nil {
			return err
		}
	}
	for _, k := range c.putKeys {
		if err := setJSON(txn, prefixIAMKey+k.AccessKeyID, k); err != nil {
			return err
		}
	}
	for _, serial := range c.delMFA {
		if err := txn.Delete([]byte(prefixIAMMFA + serial)); err != nil {
			return err
		}
	}
	for _, d := range c.putMFA {
		if err := setJSON(txn, prefixIAMMFA+d.SerialNumber, d); err != nil {
			return err
		}
	}
	return nil
}

// digest feeds every identity record, in key order, to field.
func (iv *identityView) digest(field func([]byte)) {
	digestMap(field, prefixIAMUser, iv.users)
	digestMap(field, prefixIAMGroup, iv.groups)
	digestMap(field, prefixIAMRole, iv.roles)
	digestMap(field, prefixIAMKey, iv.keys)
	digestMap(field, prefixIAMMFA, iv.mfa)
}

func digestMap[T any](field func([]byte), prefix string, m map[string]*T) {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		b, _ := json.Marshal(m[k]) // cannot fail: it was encoded when applied
		field([]byte(prefix + k))
		field(b)
	}
}
