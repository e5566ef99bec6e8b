package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The MFA commands: virtual MFA devices (iam) and MFA sessions (sts).

func init() {
	register(
		&command{name: "iam create-virtual-mfa-device", op: "CreateVirtualMFADevice", usage: createVirtualMFADeviceUsage, run: iamCreateVirtualMFADevice,
			flags: []flagSpec{{"virtual-mfa-device-name", kindString, true}, {"path", kindString, false}}},
		&command{name: "iam enable-mfa-device", op: "EnableMFADevice", usage: enableMFADeviceUsage, run: iamEnableMFADevice,
			flags: []flagSpec{{"user-name", kindString, true}, {"serial-number", kindString, true},
				{"authentication-code1", kindString, true}, {"authentication-code2", kindString, true}}},
		&command{name: "iam deactivate-mfa-device", op: "DeactivateMFADevice", usage: deactivateMFADeviceUsage, run: iamDeactivateMFADevice,
			flags: []flagSpec{{"user-name", kindString, true}, {"serial-number", kindString, true}}},
		&command{name: "iam delete-virtual-mfa-device", op: "DeleteVirtualMFADevice", usage: deleteVirtualMFADeviceUsage, run: iamDeleteVirtualMFADevice,
			flags: []flagSpec{{"serial-number", kindString, true}}},
		&command{name: "iam list-mfa-devices", op: "ListMFADevices", usage: listMFADevicesUsage, run: iamListMFADevices,
			flags: []flagSpec{{"user-name", kindString, false}}},
		&command{name: "sts get-session-token", op: "GetSessionToken", usage: getSessionTokenUsage, run: stsGetSessionToken,
			flags: []flagSpec{{"duration-seconds", kindInt, false}, {"serial-number", kindString, false}, {"token-code", kindString, false}}},
	)
}

const createVirtualMFADeviceUsage = `Usage: kmsctl iam create-virtual-mfa-device --virtual-mfa-device-name NAME [--path PATH]

Creates a virtual MFA device (TOTP: SHA-1, 6 digits, 30-second steps) and
prints its SerialNumber and its seed, Base32StringSeed, once: enter the
seed in an authenticator app, then enable the device for a user with two
consecutive codes (enable-mfa-device). kmsd keeps the seed only wrapped
under its root key.

Example:
  kmsctl iam create-virtual-mfa-device --virtual-mfa-device-name alice-phone
`

const enableMFADeviceUsage = `Usage: kmsctl iam enable-mfa-device --user-name USER --serial-number ARN --authentication-code1 CODE --authentication-code2 CODE

Assigns a virtual MFA device to a user, given two consecutive codes from
it. The user can then get MFA sessions (sts get-session-token or
assume-role with --serial-number and --token-code), which policies can
require with the condition {"Bool":{"aws:MultiFactorAuthPresent":"true"}}.

Example:
  kmsctl iam enable-mfa-device --user-name alice --serial-number arn:aws:iam::111122223333:mfa/alice-phone \
      --authentication-code1 123456 --authentication-code2 789012
`

const deactivateMFADeviceUsage = `Usage: kmsctl iam deactivate-mfa-device --user-name USER --serial-number ARN

Takes a virtual MFA device from its user. It can then be deleted or
enabled again.

Example:
  kmsctl iam deactivate-mfa-device --user-name alice --serial-number arn:aws:iam::111122223333:mfa/alice-phone
`

const deleteVirtualMFADeviceUsage = `Usage: kmsctl iam delete-virtual-mfa-device --serial-number ARN

Deletes a virtual MFA device that no user has enabled
(DeleteConflictException otherwise: deactivate it first).

Example:
  kmsctl iam delete-virtual-mfa-device --serial-number arn:aws:iam::111122223333:mfa/alice-phone
`

const listMFADevicesUsage = `Usage: kmsctl iam list-mfa-devices [--user-name USER]

Lists the MFA devices enabled for a user (the caller, for an IAM user, when
--user-name is left out; every enabled device for the root).

Example:
  kmsctl iam list-mfa-devices --user-name alice
`

const getSessionTokenUsage = `Usage: kmsctl sts get-session-token [--duration-seconds N] [--serial-number ARN --token-code CODE]

Returns temporary credentials of the calling IAM user (AccessKeyId,
SecretAccessKey, SessionToken, Expiration), valid for --duration-seconds
(900 to 129600, default 43200). With the serial number of the user's MFA
device and a current code from it, the session is MFA-authenticated: its
calls satisfy aws:MultiFactorAuthPresent. A code works once. Use the
credentials with KMS_ACCESS_KEY_ID, KMS_SECRET_ACCESS_KEY and
KMS_SESSION_TOKEN.

Example:
  kmsctl sts get-session-token --serial-number arn:aws:iam::111122223333:mfa/alice-phone --token-code 123456
`

func iamCreateVirtualMFADevice(ctx context.Context, c *call) (any, error) {
	return c.iam.CreateVirtualMFADevice(ctx, &kmsv1.CreateVirtualMFADeviceRequest{
		VirtualMfaDeviceName: c.args.strings["virtual-mfa-device-name"], Path: c.args.strings["path"]})
}

func iamEnableMFADevice(ctx context.Context, c *call) (any, error) {
	return c.iam.EnableMFADevice(ctx, &kmsv1.EnableMFADeviceRequest{UserName: c.args.strings["user-name"],
		SerialNumber: c.args.strings["serial-number"], AuthenticationCode1: c.args.strings["authentication-code1"],
		AuthenticationCode2: c.args.strings["authentication-code2"]})
}

func iamDeactivateMFADevice(ctx context.Context, c *call) (any, error) {
	return c.iam.DeactivateMFADevice(ctx, &kmsv1.DeactivateMFADeviceRequest{UserName: c.args.strings["user-name"],
		SerialNumber: c.args.strings["serial-number"]})
}

func iamDeleteVirtualMFADevice(ctx context.Context, c *call) (any, error) {
	return c.iam.DeleteVirtualMFADevice(ctx, &kmsv1.DeleteVirtualMFADeviceRequest{SerialNumber: c.args.strings["serial-number"]})
}

func iamListMFADevices(ctx context.Context, c *call) (any, error) {
	req := &kmsv1.ListMFADevicesRequest{UserName: c.args.strings["user-name"]}
	return iamPages(c, func(marker string, max int32) (*kmsv1.ListMFADevicesResponse, error) {
		req.Marker, req.MaxItems = marker, max
		return c.iam.ListMFADevices(ctx, req)
	}, func(all, page *kmsv1.ListMFADevicesResponse) int {
		all.MfaDevices = append(all.MfaDevices, page.MfaDevices...)
		all.IsTruncated, all.Marker = page.IsTruncated, page.Marker
		return len(all.MfaDevices)
	}, func(r *kmsv1.ListMFADevicesResponse) int { return len(r.MfaDevices) })
}

func stsGetSessionToken(ctx context.Context, c *call) (any, error) {
	return c.sts.GetSessionToken(ctx, &kmsv1.GetSessionTokenRequest{DurationSeconds: int32(c.args.ints["duration-seconds"]),
		SerialNumber: c.args.strings["serial-number"], TokenCode: c.args.strings["token-code"]})
}
