package keystore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestMFADevices: a device is created unassigned, enabled for one user,
// and each accepted code's step is committed once: the same or an earlier
// step is ErrCodeUsed, whichever member proposes it. A user with a device
// cannot be deleted; an enabled device cannot be deleted. Devices survive
// a snapshot and a reopen, and count in the digest.
func TestMFADevices(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	seedIdentities(t, s)
	serial := "arn:aws:iam::" + testAccount + ":mfa/alice-phone"
	mustApply(t, s, iamMutation(OpCreateVirtualMFADevice, IdentityMutation{MFADevice: &MFADevice{SerialNumber: serial, Path: "/", WrappedSeed: []byte("wrapped seed")}}))
	try := func(op Op, a IdentityMutation) error { return s.Apply(s.AppliedIndex()+1, iamMutation(op, a)) }
	for _, c := range []struct {
		name string
		op   Op
		a    IdentityMutation
		want error
	}{
		{"create twice", OpCreateVirtualMFADevice, IdentityMutation{MFADevice: &MFADevice{SerialNumber: serial, WrappedSeed: []byte("x")}}, ErrAlreadyExists},
		{"create without a seed", OpCreateVirtualMFADevice, IdentityMutation{MFADevice: &MFADevice{SerialNumber: serial + "2"}}, ErrInvalidMutation},
		{"use before enabling", OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 10}, ErrNotFound},
		{"enable for nobody", OpEnableMFADevice, IdentityMutation{UserName: "carol", SerialNumber: serial, Step: 10}, ErrNotFound},
		{"enable an unknown device", OpEnableMFADevice, IdentityMutation{UserName: "alice", SerialNumber: serial + "x", Step: 10}, ErrNotFound},
		{"enable", OpEnableMFADevice, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 10}, nil},
		{"enable for another user", OpEnableMFADevice, IdentityMutation{UserName: "bob", SerialNumber: serial, Step: 11}, ErrAlreadyExists},
		{"the enabling step again", OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 10}, ErrCodeUsed},
		{"an earlier step", OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 9}, ErrCodeUsed},
		{"another user's use", OpUseMFACode, IdentityMutation{UserName: "bob", SerialNumber: serial, Step: 11}, ErrNotFound},
		{"the next step", OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 11}, nil},
		{"the next step twice", OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 11}, ErrCodeUsed},
		{"delete the user", OpDeleteUser, IdentityMutation{UserName: "bob"}, nil},
		{"delete an enabled device", OpDeleteVirtualMFADevice, IdentityMutation{SerialNumber: serial}, ErrDeleteConflict},
	} {
		before := fmt.Sprint(s.MFADevices(""))
		err := try(c.op, c.a)
		if !errors.Is(err, c.want) || c.want == nil && err != nil {
			t.Fatalf("%s: %v, want %v", c.name, err, c.want)
		}
		if err != nil && fmt.Sprint(s.MFADevices("")) != before {
			t.Fatalf("%s: refused, yet the state changed", c.name)
		}
	}
	d, ok := s.MFADevice(serial)
	if !ok || d.UserName != "alice" || d.LastStep != 11 || !bytes.Equal(d.WrappedSeed, []byte("wrapped seed")) {
		t.Fatalf("device: %+v", d)
	}
	if got := s.MFADevices("ALICE"); len(got) != 1 {
		t.Fatalf("alice's devices: %v", got)
	}

	// Snapshot into another store, reopen this one: the same devices.
	other := openStore(t, "")
	if err := other.Restore(bytes.NewReader(snapshotBytes(t, s))); err != nil {
		t.Fatal(err)
	}
	if other.Digest() != s.Digest() {
		t.Fatal("restored digest differs")
	}
	if d2, ok := other.MFADevice(serial); !ok || d2.LastStep != 11 {
		t.Fatalf("restored device: %+v %v", d2, ok)
	}
	digest := s.Digest()
	s.Close()
	s = openStore(t, dir)
	if s.Digest() != digest {
		t.Fatal("reopened digest differs")
	}
	if err := try(OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 11}); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("after a reopen, step 11 again: %v", err)
	}
	mustApply(t, s, iamMutation(OpDeleteAccessKey, IdentityMutation{AccessKeyID: "AKIA1"}))
	mustApply(t, s, iamMutation(OpRemoveUserFromGroup, IdentityMutation{GroupName: "devs", UserName: "alice"}))
	if err := try(OpDeleteUser, IdentityMutation{UserName: "alice"}); !errors.Is(err, ErrDeleteConflict) {
		t.Fatalf("deleting a user with a device: %v", err)
	}
	mustApply(t, s, iamMutation(OpDeactivateMFADevice, IdentityMutation{UserName: "alice", SerialNumber: serial}))
	mustApply(t, s, iamMutation(OpDeleteVirtualMFADevice, IdentityMutation{SerialNumber: serial}))
	mustApply(t, s, iamMutation(OpDeleteUser, IdentityMutation{UserName: "alice"}))
	if _, ok := s.MFADevice(serial); ok {
		t.Fatal("the deleted device is still there")
	}
}

// TestMFADeviceStepsAndLockout: enabling a device again never takes its
// last accepted step back; wrong codes lock it from the MaxMFAFailures-th
// on, for longer with every further one, and a locked device accepts no
// code until the lock ends.
func TestMFADeviceStepsAndLockout(t *testing.T) {
	s := openStore(t, "")
	seedIdentities(t, s)
	serial := "arn:aws:iam::" + testAccount + ":mfa/d"
	mustApply(t, s, iamMutation(OpCreateVirtualMFADevice, IdentityMutation{MFADevice: &MFADevice{SerialNumber: serial, WrappedSeed: []byte("w")}}))
	mustApply(t, s, iamMutation(OpEnableMFADevice, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 10}))
	mustApply(t, s, iamMutation(OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 20}))
	mustApply(t, s, iamMutation(OpDeactivateMFADevice, IdentityMutation{UserName: "alice", SerialNumber: serial}))
	mustApply(t, s, iamMutation(OpEnableMFADevice, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 12}))
	if err := s.Apply(s.AppliedIndex()+1, iamMutation(OpUseMFACode, IdentityMutation{UserName: "alice", SerialNumber: serial, Step: 20})); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("step 20 after enabling again with 12: %v, want ErrCodeUsed", err)
	}
	fail := func(at time.Time) {
		t.Helper()
		if err := s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpMFACodeFailed, Time: at, IAM: &IdentityMutation{UserName: "alice", SerialNumber: serial}}); err != nil {
			t.Fatal(err)
		}
	}
	for range MaxMFAFailures - 1 {
		fail(t0)
	}
	if d, _ := s.MFADevice(serial); d.Locked(t0) || d.FailedCodes != MaxMFAFailures-1 {
		t.Fatalf("after %d wrong codes: %+v", MaxMFAFailures-1, d)
	}
	fail(t0)
	d, _ := s.MFADevice(serial)
	if !d.Locked(t0.Add(MFALockout-time.Second)) || d.Locked(t0.Add(MFALockout)) {
		t.Fatalf("after %d wrong codes the lock ends at %v, want %v", MaxMFAFailures, d.LockedUntil, t0.Add(MFALockout))
	}
	use := func(step uint64, at time.Time) error {
		return s.Apply(s.AppliedIndex()+1, &Mutation{Op: OpUseMFACode, Time: at, IAM: &IdentityMutation{UserName: "alice", SerialNumber: serial, Step: step}})
	}
	if err := use(30, t0.Add(time.Minute)); !errors.Is(err, ErrCodeUsed) {
		t.Fatalf("a code while locked: %v", err)
	}
	fail(t0.Add(time.Minute)) // while locked: not counted
	if d, _ := s.MFADevice(serial); d.FailedCodes != MaxMFAFailures {
		t.Fatalf("a wrong code while locked was counted: %d", d.FailedCodes)
	}
	fail(t0.Add(MFALockout)) // after the lock: the next is longer
	if d, _ := s.MFADevice(serial); !d.Locked(t0.Add(MFALockout + MFALockout + time.Minute)) {
		t.Fatalf("the second lock is not longer: until %v", d.LockedUntil)
	}
	if err := use(30, t0.Add(24*time.Hour)); err != nil {
		t.Fatalf("a code once unlocked: %v", err)
	}
	if d, _ := s.MFADevice(serial); d.FailedCodes != 0 || !d.LockedUntil.IsZero() {
		t.Fatalf("an accepted code did not clear the count: %+v", d)
	}
}
