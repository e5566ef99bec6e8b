package keystore

import (
	"errors"
	"testing"
	"time"
)

func externalKey(id string) *Key {
	k := testKey(id)
	k.Origin, k.State, k.Versions = OriginExternal, PendingImport, nil
	return k
}

func importOf(keyID, mid string, typ string, validTo time.Time) *Mutation {
	model := MaterialDoesNotExpire
	if !validTo.IsZero() {
		model = MaterialExpires
	}
	return &Mutation{Op: OpImportKeyMaterial, Time: t0, KeyID: keyID, ImportType: typ,
		Version: &Version{MaterialID: mid, Wrapped: []byte("wrapped " + mid), ExpirationModel: model, ValidTo: validTo}}
}

func TestImportLifecycle(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, externalKey("x"))
	mustApply(t, s, importOf("x", "m1", "", time.Time{}))
	k, _ := s.Key("x")
	if k.State != Enabled || len(k.Versions) != 1 {
		t.Fatalf("after import: %s, %d versions", k.State, len(k.Versions))
	}
	// Other material, not declared new, is refused; the same again is fine.
	if err := s.Apply(s.AppliedIndex()+1, importOf("x", "other", "", time.Time{})); !errors.Is(err, ErrIncorrectMaterial) {
		t.Fatalf("other material: %v", err)
	}
	mustApply(t, s, importOf("x", "m1", ImportExistingMaterial, time.Time{}))
	mustApply(t, s, &Mutation{Op: OpDeleteImportedKeyMaterial, Time: t0, KeyID: "x"})
	k, _ = s.Key("x")
	if cur, _ := k.Current(); k.State != PendingImport || !cur.Deleted() {
		t.Fatalf("after delete: %s, deleted %v", k.State, cur.Deleted())
	}
	if err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpDeleteImportedKeyMaterial, Time: t0, KeyID: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if err := s.Apply(s.AppliedIndex()+1, importOf("x", "other", "", time.Time{})); !errors.Is(err, ErrIncorrectMaterial) {
		t.Fatalf("other material after delete: %v", err)
	}
	mustApply(t, s, importOf("x", "m1", "", time.Time{}))
	if k, _ := s.Key("x"); k.State != Enabled {
		t.Fatalf("re-import of the same material: %s", k.State)
	}
	// New material for rotation waits as PENDING_ROTATION.
	mustApply(t, s, importOf("x", "m2", ImportNewMaterial, time.Time{}))
	if err := s.Apply(s.AppliedIndex()+1, importOf("x", "m3", ImportNewMaterial, time.Time{})); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("second pending material: %v", err)
	}
	k, _ = s.Key("x")
	if cur, _ := k.Current(); cur.MaterialID != "m1" || k.Versions[1].State != MaterialPendingRotation {
		t.Fatalf("versions %+v", k.Versions)
	}
	mustApply(t, s, rotation("x", "m1", "", RotationOnDemand, t0.Add(time.Hour)))
	k, _ = s.Key("x")
	if cur, _ := k.Current(); cur.MaterialID != "m2" {
		t.Fatalf("current %s after rotation, want m2", cur.MaterialID)
	}
}

func TestImportRefusals(t *testing.T) {
	s := openStore(t, "")
	createKey(t, s, testKey("aws"))
	createKey(t, s, externalKey("x"))
	mustApply(t, s, &Mutation{Op: OpScheduleKeyDeletion, Time: t0, KeyID: "x", DeletionDate: t0.AddDate(0, 0, 7), PendingWindowInDays: 7})
	for _, c := range []struct {
		name string
		m    *Mutation
		want error
	}{
		{"into an AWS_KMS key", importOf("aws", "m", "", time.Time{}), ErrInvalidState},
		{"into a key pending deletion", importOf("x", "m", "", time.Time{}), ErrInvalidState},
		{"without material", &Mutation{Op: OpImportKeyMaterial, Time: t0, KeyID: "x"}, ErrInvalidMutation},
		{"params for an AWS_KMS key", &Mutation{Op: OpAddImportParams, Time: t0, KeyID: "aws",
			ImportParams: &ImportParams{WrappingKeyID: "w", WrappedPrivateKey: []byte("p"), ValidTo: t0.Add(time.Hour)}}, ErrInvalidState},
		{"params without a key", &Mutation{Op: OpAddImportParams, Time: t0, KeyID: "x"}, ErrInvalidMutation},
	} {
		before := stateJSON(t, s)
		if err := s.Apply(s.AppliedIndex()+1, c.m); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if stateJSON(t, s) != before {
			t.Errorf("%s changed the state", c.name)
		}
	}
}

func TestImportParamsAndExpiry(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	createKey(t, s, externalKey("x"))
	params := func(id string, at time.Time) *Mutation {
		return &Mutation{Op: OpAddImportParams, Time: at, KeyID: "x", ImportParams: &ImportParams{
			WrappingKeyID: id, Algorithm: "RSAES_OAEP_SHA_256", Spec: "RSA_2048", WrappedPrivateKey: []byte("wrapped " + id),
			PublicKey: []byte("pub"), ValidTo: at.Add(24 * time.Hour)}}
	}
	mustApply(t, s, params("w1", t0))
	if p, err := s.ImportParams("w1"); err != nil || p.KeyID != "x" || string(p.WrappedPrivateKey) != "wrapped w1" {
		t.Fatalf("ImportParams: %+v %v", p, err)
	}
	if err := s.Apply(s.AppliedIndex()+1, params("w1", t0)); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("duplicate wrapping key id: %v", err)
	}
	// A day later the first parameters have expired and are dropped.
	mustApply(t, s, params("w2", t0.Add(25*time.Hour)))
	if _, err := s.ImportParams("w1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired parameters kept: %v", err)
	}
	validTo := t0.Add(48 * time.Hour)
	mustApply(t, s, importOf("x", "m1", "", validTo))
	if due := s.DueForExpiry(validTo.Add(-time.Second)); len(due) != 0 {
		t.Fatalf("due early: %v", due)
	}
	due := s.DueForExpiry(validTo)
	if len(due) != 1 || due[0].MaterialID != "m1" {
		t.Fatalf("DueForExpiry = %v", due)
	}
	expire := &Mutation{Op: OpExpireKeyMaterial, Time: validTo, KeyID: "x", MaterialID: "m1", DueDate: validTo}
	early := *expire
	early.Time = validTo.Add(-time.Minute)
	if err := s.Apply(s.AppliedIndex()+1, &early); !errors.Is(err, ErrInvalidState) {
		t.Fatalf("early expiry: %v", err)
	}
	mustApply(t, s, expire)
	if k, _ := s.Key("x"); k.State != PendingImport {
		t.Fatalf("state %s after expiry", k.State)
	}
	digest := s.Digest()
	s.Close()
	if s2 := openStore(t, dir); s2.Digest() != digest {
		t.Fatal("import state not recovered after reopening")
	}
}
