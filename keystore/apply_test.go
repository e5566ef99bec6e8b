package keystore

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// Seeds: the state key "k1" is brought to before the mutation under test.
// Every seed also has key "k2" (Enabled) and alias "alias/one" -> k1.
const (
	seedEnabled      = "Enabled"
	seedDisabled     = "Disabled"
	seedPendingDel   = "PendingDeletion"
	seedPendingImp   = "PendingImport"
	seedPendingDelPI = "PendingDeletion(no material)"
)

var deletionDate = t0.Add(7 * 24 * time.Hour)

func seed(t *testing.T, name string) *Store {
	t.Helper()
	s := openStore(t, "")
	k1 := testKey("k1")
	if name == seedPendingImp || name == seedPendingDelPI {
		k1.Origin, k1.State, k1.Versions = OriginExternal, PendingImport, nil
	}
	createKey(t, s, k1)
	createKey(t, s, testKey("k2"))
	mustApply(t, s, &Mutation{Op: OpCreateAlias, Time: t0, AliasName: "alias/one", KeyID: "k1"})
	switch name {
	case seedDisabled:
		mustApply(t, s, &Mutation{Op: OpDisableKey, Time: t0, KeyID: "k1"})
	case seedPendingDel, seedPendingDelPI:
		mustApply(t, s, &Mutation{Op: OpScheduleKeyDeletion, Time: t0, KeyID: "k1",
			DeletionDate: deletionDate, PendingWindowInDays: 7})
	}
	return s
}

// TestApplyStateTransitions covers every key-state op from every state.
func TestApplyStateTransitions(t *testing.T) {
	all := []string{seedEnabled, seedDisabled, seedPendingDel, seedPendingImp}
	type row struct {
		op   Op
		from string
		to   State // "" when refused
	}
	rows := []row{
		{OpEnableKey, seedEnabled, Enabled}, {OpEnableKey, seedDisabled, Enabled},
		{OpEnableKey, seedPendingDel, ""}, {OpEnableKey, seedPendingImp, ""},
		{OpDisableKey, seedEnabled, Disabled}, {OpDisableKey, seedDisabled, Disabled},
		{OpDisableKey, seedPendingDel, ""}, {OpDisableKey, seedPendingImp, ""},
		{OpScheduleKeyDeletion, seedEnabled, PendingDeletion}, {OpScheduleKeyDeletion, seedDisabled, PendingDeletion},
		{OpScheduleKeyDeletion, seedPendingImp, PendingDeletion}, {OpScheduleKeyDeletion, seedPendingDel, ""},
		{OpCancelKeyDeletion, seedPendingDel, Disabled}, {OpCancelKeyDeletion, seedPendingDelPI, PendingImport},
		{OpCancelKeyDeletion, seedEnabled, ""}, {OpCancelKeyDeletion, seedDisabled, ""}, {OpCancelKeyDeletion, seedPendingImp, ""},
		{OpDeleteKey, seedEnabled, ""}, {OpDeleteKey, seedDisabled, ""}, {OpDeleteKey, seedPendingImp, ""},
	}
	for _, from := range all {
		want := State(from)
		if from == seedPendingDel {
			want = ""
		}
		rows = append(rows, row{OpUpdateDescription, from, want}, row{OpTagResource, from, want}, row{OpUntagResource, from, want})
	}
	for i, r := range rows {
		t.Run(fmt.Sprintf("%d:%s from %s", i, r.op, r.from), func(t *testing.T) {
			s := seed(t, r.from)
			m := &Mutation{Op: r.op, Time: t0.Add(time.Hour), KeyID: "k1", Description: "new",
				DeletionDate: deletionDate, PendingWindowInDays: 7,
				Tags: []Tag{{"b", "2"}, {"a", "1"}}, TagKeys: []string{"a"}}
			if r.to == "" {
				expectRefused(t, s, m, ErrInvalidState)
				return
			}
			mustApply(t, s, m)
			k, err := s.Key("k1")
			if err != nil {
				t.Fatal(err)
			}
			if k.State != r.to {
				t.Errorf("state = %s, want %s", k.State, r.to)
			}
		})
	}
}

// expectRefused applies m, expects want, and checks that only the applied
// index changed.
func expectRefused(t *testing.T, s *Store, m *Mutation, want error) {
	t.Helper()
	before, index := stateJSON(t, s), s.AppliedIndex()
	err := s.Apply(index+1, m)
	if !errors.Is(err, want) {
		t.Fatalf("Apply(%s) = %v, want %v", m.Op, err, want)
	}
	if after := stateJSON(t, s); after != before {
		t.Errorf("refused %s changed the state:\n%s\n%s", m.Op, before, after)
	}
	if got := s.AppliedIndex(); got != index+1 {
		t.Errorf("applied index = %d, want %d", got, index+1)
	}
}
