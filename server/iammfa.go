package server

import (
	"context"
	"encoding/base32"
	"errors"
	"io"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Virtual MFA devices. A device's seed is made here, returned once in
// base32 (what authenticator apps take), and stored only wrapped under
// the root key, bound to the device's serial number. Codes are checked
// with iam.VerifyTOTP, and the time step of each accepted code is
// committed through the Raft log, so that a code is accepted once by the
// whole cluster.

const (
	excInvalidAuthenticationCode = "InvalidAuthenticationCodeException"
	maxMFADeviceNameLen          = 226
)

var errInvalidMFACode = &apiError{code: codes.PermissionDenied, name: excAccessDenied,
	message: "MultiFactorAuthentication failed with invalid MFA one time pass code."}

func mfaSeedAAD(serial string) []byte { return []byte("kmsd/v1/mfa-seed/" + serial) }

func mfaWhat(serial string) string { return "MFA device with serial number " + serial }

// mfaSeed unwraps a device's seed; the caller clears it.
func (s *Server) mfaSeed(d keystore.MFADevice) ([]byte, error) {
	seed, err := envelope.UnwrapBytes(s.rootKey, d.WrappedSeed, mfaSeedAAD(d.SerialNumber))
	if err != nil {
		return nil, errCorruptSecret
	}
	return seed, nil
}

// CreateVirtualMFADevice makes a device and returns its seed.
func (is *iamService) CreateVirtualMFADevice(ctx context.Context, req *kmsv1.CreateVirtualMFADeviceRequest) (*kmsv1.CreateVirtualMFADeviceResponse, error) {
	name := req.GetVirtualMfaDeviceName()
	if err := validateName("virtualMFADeviceName", name, maxMFADeviceNameLen); err != nil {
		return nil, err
	}
	path, err := entityPath(req.GetPath())
	if err != nil {
		return nil, err
	}
	serial := is.entityARN("mfa", path, name)
	seed := make([]byte, iam.TOTPSeedBytes)
	if _, err := io.ReadFull(is.s.rand, seed); err != nil {
		return nil, err
	}
	defer clear(seed)
	wrapped, err := envelope.WrapBytes(is.s.rand, is.s.rootKey, seed, mfaSeedAAD(serial))
	if err != nil {
		return nil, err
	}
	d := &keystore.MFADevice{SerialNumber: serial, Path: path, WrappedSeed: wrapped}
	err = is.propose(ctx, keystore.OpCreateVirtualMFADevice, keystore.IdentityMutation{MFADevice: d})
	if err := mapStoreError(err, "MFADevice entity at the same path and name"); err != nil {
		return nil, err
	}
	return &kmsv1.CreateVirtualMFADeviceResponse{VirtualMfaDevice: &kmsv1.VirtualMFADevice{SerialNumber: serial,
		Base32StringSeed: base32.StdEncoding.EncodeToString(seed)}}, nil
}

// EnableMFADevice assigns a device to a user, given two consecutive codes
// of it (as AWS asks, to show the device and its clock work).
func (is *iamService) EnableMFADevice(ctx context.Context, req *kmsv1.EnableMFADeviceRequest) (*kmsv1.EnableMFADeviceResponse, error) {
	if err := validateUserName(req.GetUserName()); err != nil {
		return nil, err
	}
	d, ok := is.ids.MFADevice(req.GetSerialNumber())
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", mfaWhat(req.GetSerialNumber()))
	}
	seed, err := is.s.mfaSeed(d)
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	// The first code may be up to a step older than the second, both
	// within the drift VerifyTOTP allows.
	now := is.s.now()
	s1, ok1 := iam.VerifyTOTP(seed, req.GetAuthenticationCode1(), now.Add(-iam.TOTPStep))
	s2, ok2 := iam.VerifyTOTP(seed, req.GetAuthenticationCode2(), now)
	if !ok1 || !ok2 || s2 != s1+1 {
		return nil, newAPIError(codes.InvalidArgument, excInvalidAuthenticationCode,
			"Authentication code for device is not valid: two consecutive codes of the device are needed.")
	}
	err = is.propose(ctx, keystore.OpEnableMFADevice, keystore.IdentityMutation{UserName: req.GetUserName(), SerialNumber: d.SerialNumber, Step: s2})
	if errors.Is(err, keystore.ErrAlreadyExists) {
		return nil, entityExists("MFA device is already in use.")
	}
	if err := mapStoreError(err, "The user with name "+req.GetUserName()); err != nil {
		return nil, err
	}
	return &kmsv1.EnableMFADeviceResponse{}, nil
}

// DeactivateMFADevice takes a device from its user; it can then be
// deleted or enabled again.
func (is *iamService) DeactivateMFADevice(ctx context.Context, req *kmsv1.DeactivateMFADeviceRequest) (*kmsv1.DeactivateMFADeviceResponse, error) {
	if err := validateUserName(req.GetUserName()); err != nil {
		return nil, err
	}
	err := is.propose(ctx, keystore.OpDeactivateMFADevice, keystore.IdentityMutation{UserName: req.GetUserName(), SerialNumber: req.GetSerialNumber()})
	if err := mapStoreError(err, mfaWhat(req.GetSerialNumber())+" for user "+req.GetUserName()); err != nil {
		return nil, err
	}
	return &kmsv1.DeactivateMFADeviceResponse{}, nil
}

// DeleteVirtualMFADevice deletes a device that no user has enabled.
func (is *iamService) DeleteVirtualMFADevice(ctx context.Context, req *kmsv1.DeleteVirtualMFADeviceRequest) (*kmsv1.DeleteVirtualMFADeviceResponse, error) {
	err := is.propose(ctx, keystore.OpDeleteVirtualMFADevice, keystore.IdentityMutation{SerialNumber: req.GetSerialNumber()})
	if errors.Is(err, keystore.ErrDeleteConflict) {
		return nil, deleteConflict("MFA device is enabled for a user; deactivate it first.")
	}
	if err := mapStoreError(err, mfaWhat(req.GetSerialNumber())); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteVirtualMFADeviceResponse{}, nil
}

// ListMFADevices lists the devices enabled for a user (UserName), or for
// the caller when it is an IAM user and names none; with neither, every
// enabled device.
func (is *iamService) ListMFADevices(ctx context.Context, req *kmsv1.ListMFADevicesRequest) (*kmsv1.ListMFADevicesResponse, error) {
	user := req.GetUserName()
	if user == "" {
		if who, ok := callerFrom(ctx); ok {
			user = who.userName
		}
	} else if err := validateUserName(user); err != nil {
		return nil, err
	}
	limit, err := maxItems(req.GetMaxItems())
	if err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	if user != "" {
		if _, ok := is.ids.UserRef(user); !ok {
			return nil, noSuchEntity("The user with name %s cannot be found.", user)
		}
	}
	var serials []string
	byName := map[string]keystore.MFADevice{}
	for _, d := range is.ids.MFADevices(user) {
		if d.UserName != "" {
			serials = append(serials, d.SerialNumber)
			byName[d.SerialNumber] = d
		}
	}
	page, next, err := pageNames(serials, limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListMFADevicesResponse{IsTruncated: next != "", Marker: next}
	for _, serial := range page {
		d := byName[serial]
		resp.MfaDevices = append(resp.MfaDevices, &kmsv1.MFADevice{UserName: d.UserName, SerialNumber: serial, EnableDate: timestamp(d.EnableDate)})
	}
	return resp, nil
}

// checkMFA verifies code against the device serial enabled for user and
// commits its time step, so that it is not accepted again. Every failure
// is the same AccessDenied.
func (s *Server) checkMFA(ctx context.Context, user, serial, code string) error {
	ids, ok := s.identityStore()
	if !ok || user == "" {
		return errInvalidMFACode
	}
	d, ok := ids.MFADevice(serial)
	if !ok || d.UserName == "" || !strings.EqualFold(d.UserName, user) {
		return errInvalidMFACode
	}
	if d.Locked(s.now()) {
		return errInvalidMFACode // the same answer: a locked device says nothing
	}
	seed, err := s.mfaSeed(d)
	if err != nil {
		return err
	}
	step, ok := iam.VerifyTOTP(seed, code, s.now())
	clear(seed)
	if !ok || step <= d.LastStep {
		// Counted through the log, so that wrong codes spread over the
		// members lock the device all the same.
		if err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpMFACodeFailed, Time: s.now().UTC(),
			IAM: &keystore.IdentityMutation{UserName: user, SerialNumber: serial}}); err != nil && !errors.Is(err, keystore.ErrNotFound) {
			return err
		}
		return errInvalidMFACode
	}
	err = s.propose(ctx, &keystore.Mutation{Op: keystore.OpUseMFACode, Time: s.now().UTC(),
		IAM: &keystore.IdentityMutation{UserName: user, SerialNumber: serial, Step: step}})
	switch {
	case errors.Is(err, keystore.ErrCodeUsed), errors.Is(err, keystore.ErrNotFound):
		return errInvalidMFACode
	case err != nil:
		return err
	}
	return nil
}
