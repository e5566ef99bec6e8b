package iam

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"time"
)

// Time-based one-time passwords (RFC 6238) for virtual MFA devices: HMAC-
// SHA-1 over the number of 30-second steps since the Unix epoch, dynamic
// truncation (RFC 4226), 6 digits — what authenticator apps compute from a
// base32 seed.

// TOTPStep is the length of a time step.
const TOTPStep = 30 * time.Second

// TOTPSeedBytes is the size of a virtual MFA device's seed.
const TOTPSeedBytes = 20

// TOTPCode returns the code of seed for time step, with the given number
// of digits (6 for MFA devices, 8 in RFC 6238's test vectors).
func TOTPCode(seed []byte, step uint64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], step)
	mac := hmac.New(sha1.New, seed)
	mac.Write(msg[:])
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	code := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		code[i] = byte('0' + v%10)
		v /= 10
	}
	return string(code)
}

// TOTPStepAt returns the time step of t.
func TOTPStepAt(t time.Time) uint64 { return uint64(t.Unix()) / uint64(TOTPStep/time.Second) }

// VerifyTOTP checks a 6-digit code against the steps from one before now's
// to one after (clock drift of up to 30 s either way) and returns the step
// it matched. Every candidate is computed and compared in constant time.
// The caller must refuse a step not later than the last one accepted, so
// that a code works once.
func VerifyTOTP(seed []byte, code string, now time.Time) (step uint64, ok bool) {
	if len(code) != 6 {
		return 0, false
	}
	cur := TOTPStepAt(now)
	for s := cur - 1; s <= cur+1; s++ {
		if subtle.ConstantTimeCompare([]byte(TOTPCode(seed, s, 6)), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}
