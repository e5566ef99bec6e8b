package keystore

import (
	"fmt"
	"slices"
	"time"
)

// Virtual MFA devices. A device is created unassigned, with its TOTP seed
// wrapped under the root key by the proposer (the store never sees it in
// the clear); enabling it assigns it to one user, who may then have it
// checked when asking for temporary credentials. Each device remembers
// the last time step a code of it was accepted for, and Apply refuses a
// code of that step or an earlier one (OpUseMFACode), so a code works once
// on the whole cluster.
//
// Records live under "iam/mfa/<serial number>".
const prefixIAMMFA = "iam/mfa/"

// MFA device mutations. Each carries its arguments in Mutation.IAM.
const (
	OpCreateVirtualMFADevice Op = "CreateVirtualMFADevice" // MFADevice
	OpEnableMFADevice        Op = "EnableMFADevice"        // UserName, SerialNumber, Step
	OpDeactivateMFADevice    Op = "DeactivateMFADevice"    // UserName, SerialNumber
	OpDeleteVirtualMFADevice Op = "DeleteVirtualMFADevice" // SerialNumber
	OpUseMFACode             Op = "UseMFACode"             // SerialNumber, UserName, Step
	OpMFACodeFailed          Op = "MFACodeFailed"          // SerialNumber, UserName
)

// MaxMFADevices is the account's limit on virtual MFA devices; a user has
// at most MaxMFADevicesPerUser enabled.
const (
	MaxMFADevices        = 5000
	MaxMFADevicesPerUser = 8
)

// ErrCodeUsed reports an MFA code of a time step no later than the last
// one accepted for the device: a replay.
var ErrCodeUsed = fmt.Errorf("%w: MFA code already used", ErrInvalidState)

// MFADevice is a virtual MFA device.
type MFADevice struct {
	SerialNumber string    `json:"serialNumber"` // arn:aws:iam::ACCOUNT:mfa/PATH/NAME
	Path         string    `json:"path"`
	CreateDate   time.Time `json:"createDate"`
	WrappedSeed  []byte    `json:"wrappedSeed"`
	// UserName is the user the device is enabled for; empty: unassigned.
	UserName   string    `json:"userName,omitempty"`
	EnableDate time.Time `json:"enableDate,omitzero"`
	// LastStep is the TOTP time step of the last code accepted.
	LastStep uint64 `json:"lastStep,omitempty"`
	// FailedCodes counts the wrong codes since the last one accepted;
	// from MaxMFAFailures on, the device is locked until LockedUntil.
	FailedCodes int       `json:"failedCodes,omitempty"`
	LockedUntil time.Time `json:"lockedUntil,omitzero"`
}

// Wrong codes: after MaxMFAFailures in a row a device accepts no code for
// MFALockout, doubled for every further wrong code (at most a day), so
// that guessing six digits takes years. An accepted code clears the count.
const (
	MaxMFAFailures = 5
	MFALockout     = 15 * time.Minute
)

// Locked reports whether the device refuses codes at now.
func (d MFADevice) Locked(now time.Time) bool { return now.Before(d.LockedUntil) }

func (d MFADevice) clone() MFADevice {
	d.WrappedSeed = slices.Clone(d.WrappedSeed)
	return d
}

func init() {
	identityPlanners[OpCreateVirtualMFADevice] = planCreateMFADevice
	identityPlanners[OpEnableMFADevice] = planEnableMFADevice
	identityPlanners[OpDeactivateMFADevice] = planDeactivateMFADevice
	identityPlanners[OpDeleteVirtualMFADevice] = planDeleteMFADevice
	identityPlanners[OpUseMFACode] = planUseMFACode
	identityPlanners[OpMFACodeFailed] = planMFACodeFailed
}

func (v *view) mfaDevice(op Op, serial string) (*MFADevice, error) {
	d, ok := v.iam.mfa[serial]
	if !ok || serial == "" {
		return nil, fmt.Errorf("%s: MFA device %q: %w", op, serial, ErrNotFound)
	}
	return d, nil
}

// mfaDevicesOf counts the devices enabled for the user with folded name u.
func (v *view) mfaDevicesOf(u string) int {
	n := 0
	for _, d := range v.iam.mfa {
		if d.UserName != "" && fold(d.UserName) == u {
			n++
		}
	}
	return n
}

func planCreateMFADevice(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	d := a.MFADevice
	if d == nil || d.SerialNumber == "" || len(d.WrappedSeed) == 0 {
		return change{}, fmt.Errorf("%w: %s without a device", ErrInvalidMutation, m.Op)
	}
	if _, ok := v.iam.mfa[d.SerialNumber]; ok {
		return change{}, fmt.Errorf("%s: MFA device %q: %w", m.Op, d.SerialNumber, ErrAlreadyExists)
	}
	if len(v.iam.mfa) >= MaxMFADevices {
		return change{}, fmt.Errorf("%s: %d MFA devices: %w", m.Op, MaxMFADevices, ErrLimitExceeded)
	}
	nd := d.clone()
	nd.CreateDate, nd.UserName, nd.EnableDate, nd.LastStep = m.Time.UTC(), "", time.Time{}, 0
	return iamChange(&identityChange{putMFA: []*MFADevice{&nd}}), nil
}

// planEnableMFADevice assigns an unassigned device to a user; Step is the
// later of the two codes the proposer checked.
func planEnableMFADevice(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	u, err := v.user(m.Op, a.UserName)
	if err != nil {
		return change{}, err
	}
	d, err := v.mfaDevice(m.Op, a.SerialNumber)
	if err != nil {
		return change{}, err
	}
	if d.UserName != "" {
		return change{}, fmt.Errorf("%s: MFA device %q is enabled for a user: %w", m.Op, d.SerialNumber, ErrAlreadyExists)
	}
	if v.mfaDevicesOf(fold(u.UserName)) >= MaxMFADevicesPerUser {
		return change{}, fmt.Errorf("%s: user %q has %d MFA devices: %w", m.Op, u.UserName, MaxMFADevicesPerUser, ErrLimitExceeded)
	}
	nd := d.clone()
	// A device enabled again never goes back to an earlier step: codes it
	// accepted before stay used.
	nd.UserName, nd.EnableDate, nd.LastStep = u.UserName, m.Time.UTC(), max(a.Step, d.LastStep)
	return iamChange(&identityChange{putMFA: []*MFADevice{&nd}}), nil
}

// enabledDevice finds the device a names, enabled for the user a names.
func (v *view) enabledDevice(m *Mutation, a *IdentityMutation) (*MFADevice, error) {
	u, err := v.user(m.Op, a.UserName)
	if err != nil {
		return nil, err
	}
	d, err := v.mfaDevice(m.Op, a.SerialNumber)
	if err != nil {
		return nil, err
	}
	if d.UserName == "" || fold(d.UserName) != fold(u.UserName) {
		return nil, fmt.Errorf("%s: MFA device %q is not enabled for user %q: %w", m.Op, d.SerialNumber, u.UserName, ErrNotFound)
	}
	return d, nil
}

func planDeactivateMFADevice(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	d, err := v.enabledDevice(m, a)
	if err != nil {
		return change{}, err
	}
	nd := d.clone()
	nd.UserName, nd.EnableDate = "", time.Time{}
	return iamChange(&identityChange{putMFA: []*MFADevice{&nd}}), nil
}

func planDeleteMFADevice(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	d, err := v.mfaDevice(m.Op, a.SerialNumber)
	if err != nil {
		return change{}, err
	}
	if d.UserName != "" {
		return change{}, fmt.Errorf("%s: MFA device %q is enabled for user %q: %w", m.Op, d.SerialNumber, d.UserName, ErrDeleteConflict)
	}
	return iamChange(&identityChange{delMFA: []string{d.SerialNumber}}), nil
}

// planUseMFACode records that a code of Step was accepted, once.
func planUseMFACode(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	d, err := v.enabledDevice(m, a)
	if err != nil {
		return change{}, err
	}
	if a.Step <= d.LastStep || d.Locked(m.Time) {
		return change{}, fmt.Errorf("%s: MFA device %q, step %d: %w", m.Op, d.SerialNumber, a.Step, ErrCodeUsed)
	}
	nd := d.clone()
	nd.LastStep, nd.FailedCodes, nd.LockedUntil = a.Step, 0, time.Time{}
	return iamChange(&identityChange{putMFA: []*MFADevice{&nd}}), nil
}

// planMFACodeFailed counts a wrong code and locks the device from the
// MaxMFAFailures-th on. Codes tried while it is locked are not counted.
func planMFACodeFailed(v *view, m *Mutation) (change, error) {
	a, err := identityArgs(m)
	if err != nil {
		return change{}, err
	}
	d, err := v.enabledDevice(m, a)
	if err != nil {
		return change{}, err
	}
	if d.Locked(m.Time) {
		return change{}, nil
	}
	nd := d.clone()
	nd.FailedCodes++
	if over := nd.FailedCodes - MaxMFAFailures; over >= 0 {
		lock := min(MFALockout<<min(over, 7), 24*time.Hour)
		nd.LockedUntil = m.Time.UTC().Add(lock)
	}
	return iamChange(&identityChange{putMFA: []*MFADevice{&nd}}), nil
}

// MFADevice returns the MFA device with the given serial number.
func (s *Store) MFADevice(serial string) (MFADevice, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.v.iam.mfa[serial]
	if !ok {
		return MFADevice{}, false
	}
	return d.clone(), true
}

// MFADevices returns the devices enabled for a user (userName set) or
// every device (userName empty), sorted by serial number.
func (s *Store) MFADevices(userName string) []MFADevice {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []MFADevice
	for _, d := range s.v.iam.mfa {
		if userName == "" || d.UserName != "" && fold(d.UserName) == fold(userName) {
			out = append(out, d.clone())
		}
	}
	slices.SortFunc(out, func(a, b MFADevice) int {
		switch {
		case a.SerialNumber < b.SerialNumber:
			return -1
		case a.SerialNumber > b.SerialNumber:
			return 1
		}
		return 0
	})
	return out
}
