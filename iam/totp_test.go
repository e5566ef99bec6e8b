package iam

import (
	"testing"
	"time"
)

// TestTOTPVectors: RFC 6238 Appendix B, SHA-1 (8 digits), and the 6-digit
// codes of the same steps, which are their last six digits.
func TestTOTPVectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	} {
		step := TOTPStepAt(time.Unix(v.unix, 0))
		if got := TOTPCode(seed, step, 8); got != v.code {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.code)
		}
		if got := TOTPCode(seed, step, 6); got != v.code[2:] {
			t.Errorf("T=%d, 6 digits: %s, want %s", v.unix, got, v.code[2:])
		}
	}
}

func TestVerifyTOTP(t *testing.T) {
	seed := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	cur := TOTPStepAt(now)
	for _, c := range []struct {
		name string
		code string
		ok   bool
		step uint64
	}{
		{"current step", TOTPCode(seed, cur, 6), true, cur},
		{"previous step (drift)", TOTPCode(seed, cur-1, 6), true, cur - 1},
		{"next step (drift)", TOTPCode(seed, cur+1, 6), true, cur + 1},
		{"two steps back", TOTPCode(seed, cur-2, 6), false, 0},
		{"two steps ahead", TOTPCode(seed, cur+2, 6), false, 0},
		{"8 digits", TOTPCode(seed, cur, 8), false, 0},
		{"empty", "", false, 0},
		{"other seed", TOTPCode([]byte("another seed 0000000"), cur, 6), false, 0},
	} {
		step, ok := VerifyTOTP(seed, c.code, now)
		if ok != c.ok || step != c.step {
			t.Errorf("%s: (%d, %v), want (%d, %v)", c.name, step, ok, c.step, c.ok)
		}
	}
}
