package keystore

import (
	"errors"
	"testing"
	"time"
)

func rotation(keyID, from, newMID string, typ string, at time.Time) *Mutation {
	m := &Mutation{Op: OpRotateKey, Time: at, KeyID: keyID, RotationType: typ, FromMaterialID: from}
	if newMID != "" {
		m.Version = &Version{MaterialID: newMID, Wrapped: []byte("wrapped " + newMID), CreationDate: at}
	}
	return m
}

func TestRotationSchedule(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("k1"))
	mustApply(t, s, &Mutation{Op: OpEnableKeyRotation, Time: t0, KeyID: "k1", RotationPeriodInDays: 90})
	k, _ := s.Key("k1")
	due := t0.AddDate(0, 0, 90)
	if !k.RotationEnabled || !k.NextRotationDate.Equal(due) {
		t.Fatalf("rotation %v next %v, want next %v", k.RotationEnabled, k.NextRotationDate, due)
	}
	if got := s.DueForRotation(due.Add(-time.Second), 0); len(got) != 0 {
		t.Fatalf("due before the date: %v", got)
	}
	got := s.DueForRotation(due, 0)
	if len(got) != 1 || got[0].FromMaterialID != "00k1" || !got[0].DueDate.Equal(due) {
		t.Fatalf("DueForRotation = %+v", got)
	}
	m := rotation("k1", "00k1", "01k1", RotationAutomatic, due.Add(time.Hour))
	m.DueDate = due
	// Too early: refused, nothing changes.
	early := *m
	early.Time = due.Add(-time.Minute)
	if err := s.Apply(s.AppliedIndex()+1, &early); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("early rotation: %v", err)
	}
	mustApply(t, s, m)
	// The same rotation proposed again (a new leader, say) is refused: the
	// key rotates exactly once.
	again := rotation("k1", "00k1", "02k1", RotationAutomatic, due.Add(2*time.Hour))
	again.DueDate = due
	if err := s.Apply(s.AppliedIndex()+1, again); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("second proposal of the same rotation: %v", err)
	}
	k, _ = s.Key("k1")
	cur, _ := k.Current()
	if len(k.Versions) != 2 || cur.MaterialID != "01k1" || cur.RotationType != RotationAutomatic {
		t.Fatalf("versions %+v", k.Versions)
	}
	if want := due.Add(time.Hour).AddDate(0, 0, 90); !k.NextRotationDate.Equal(want) {
		t.Fatalf("next rotation %v, want %v", k.NextRotationDate, want)
	}
	mustApply(t, s, &Mutation{Op: OpDisableKeyRotation, Time: t0, KeyID: "k1"})
	if k, _ := s.Key("k1"); k.RotationEnabled || !k.NextRotationDate.IsZero() {
		t.Fatal("rotation still on after DisableKeyRotation")
	}
	if got := s.DueForRotation(due.AddDate(5, 0, 0), 0); len(got) != 0 {
		t.Fatalf("due with rotation off: %v", got)
	}
}

func TestRotationRules(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("on"))
	createKey(t, s, testKey("off"))
	mustApply(t, s, &Mutation{Op: OpDisableKey, Time: t0, KeyID: "off"})
	ext := testKey("ext")
	ext.Origin, ext.State, ext.Versions = OriginExternal, PendingImport, nil
	createKey(t, s, ext)
	for _, c := range []struct {
		name string
		m    *Mutation
		want error
	}{
		{"enable on disabled key", &Mutation{Op: OpEnableKeyRotation, Time: t0, KeyID: "off", RotationPeriodInDays: 365}, ErrInvalidState},
		{"enable on external key", &Mutation{Op: OpEnableKeyRotation, Time: t0, KeyID: "ext", RotationPeriodInDays: 365}, ErrInvalidState},
		{"enable without period", &Mutation{Op: OpEnableKeyRotation, Time: t0, KeyID: "on"}, ErrInvalidMutation},
		{"enable on missing key", &Mutation{Op: OpEnableKeyRotation, Time: t0, KeyID: "nope", RotationPeriodInDays: 365}, ErrNotFound},
		{"rotate disabled key", rotation("off", "00off", "x", RotationOnDemand, t0), ErrInvalidState},
		{"rotate from stale material", rotation("on", "stale", "x", RotationOnDemand, t0), ErrInvalidState},
		{"rotate without material", rotation("on", "00on", "", RotationOnDemand, t0), ErrInvalidMutation},
		{"rotate to existing material", rotation("on", "00on", "00on", RotationOnDemand, t0), ErrAlreadyExists},
		{"unknown rotation type", rotation("on", "00on", "x", "MONTHLY", t0), ErrInvalidMutation},
		{"automatic without schedule", rotation("on", "00on", "x", RotationAutomatic, t0), ErrInvalidState},
		{"external without pending material", rotation("ext", "", "", RotationOnDemand, t0), ErrInvalidState},
	} {
		before := stateJSON(t, s)
		err := s.Apply(s.AppliedIndex()+1, c.m)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if stateJSON(t, s) != before {
			t.Errorf("%s: a refused mutation changed the state", c.name)
		}
	}
}

func TestOnDemandRotationLimit(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("k"))
	from := "00k"
	for i := range MaxOnDemandRotations {
		next := string(rune('a'+i)) + "mid"
		mustApply(t, s, rotation("k", from, next, RotationOnDemand, t0.Add(time.Duration(i)*time.Minute)))
		from = next
	}
	err := s.Apply(s.AppliedIndex()+1, rotation("k", from, "one-too-many", RotationOnDemand, t0))
	if !errors.Is(err, ErrLimitExceeded) {
		t.Fatalf("rotation %d: %v", MaxOnDemandRotations+1, err)
	}
	k, _ := s.Key("k")
	if len(k.Versions) != MaxOnDemandRotations+1 || k.OnDemandRotations != MaxOnDemandRotations {
		t.Fatalf("%d versions, %d on-demand rotations", len(k.Versions), k.OnDemandRotations)
	}
	if _, ok := k.Version("00k"); !ok {
		t.Fatal("the first version is gone")
	}
}

func TestUsageBatchesApplyOnce(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	createKey(t, s, testKey("k"))
	batch := func(seq uint64, n uint64) *Mutation {
		return &Mutation{Op: OpAddUsage, Time: t0, Usage: &UsageBatch{Node: "n1", Seq: seq, Counts: []UsageCount{
			{KeyID: "k", MaterialID: "00k", N: n}, {KeyID: "gone", MaterialID: "x", N: 5}}}}
	}
	mustApply(t, s, batch(1, 400))
	mustApply(t, s, batch(1, 400)) // proposed again after an unknown outcome
	mustApply(t, s, batch(2, 600))
	mustApply(t, s, &Mutation{Op: OpAddUsage, Time: t0, Usage: &UsageBatch{Node: "n2", Seq: 1, Counts: []UsageCount{{KeyID: "k", MaterialID: "00k", N: 1}}}})
	k, _ := s.Key("k")
	if cur, _ := k.Current(); cur.EncryptionCount != 1001 {
		t.Fatalf("count %d, want 1001", cur.EncryptionCount)
	}
	if s.UsageSeq("n1") != 2 || s.UsageSeq("n2") != 1 || s.UsageSeq("n3") != 0 {
		t.Fatalf("seqs %d %d", s.UsageSeq("n1"), s.UsageSeq("n2"))
	}
	due := s.DueForRotation(t0, 1000)
	if len(due) != 1 || due[0].UsageLimit != 1000 {
		t.Fatalf("usage rotation not due: %+v", due)
	}
	m := rotation("k", "00k", "01k", RotationAutomatic, t0)
	m.UsageLimit = 1000
	mustApply(t, s, m)
	if got := s.DueForRotation(t0, 1000); len(got) != 0 {
		t.Fatalf("still due after rotating: %+v", got)
	}
	digest := s.Digest()
	s.Close()
	s2 := openStore(t, dir)
	if s2.UsageSeq("n1") != 2 || s2.Digest() != digest {
		t.Fatal("usage state not recovered after reopening")
	}
}

func TestExternalKeyRotatesToPendingMaterial(t *testing.T) {
	s := openStore(t, "")
	k := testKey("x")
	k.Origin = OriginExternal
	k.Versions = append(k.Versions, Version{MaterialID: "pending", Wrapped: []byte("w"), State: MaterialPendingRotation, CreationDate: t0})
	createKey(t, s, k)
	got, _ := s.Key("x")
	if cur, _ := got.Current(); cur.MaterialID != "00x" {
		t.Fatalf("pending material is current: %s", cur.MaterialID)
	}
	mustApply(t, s, rotation("x", "00x", "", RotationOnDemand, t0.Add(time.Hour)))
	got, _ = s.Key("x")
	cur, _ := got.Current()
	if cur.MaterialID != "pending" || cur.State != "" || cur.RotationType != RotationOnDemand || len(got.Versions) != 2 {
		t.Fatalf("after rotation: %+v", got.Versions)
	}
}
