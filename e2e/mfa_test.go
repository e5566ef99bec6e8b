package e2e

import (
	"encoding/base32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kmsd/kmsd/iam"
)

// TestMFAThroughKmsctl: an operator creates a virtual MFA device and
// enables it for a user with two consecutive codes; a policy that requires
// MFA refuses the user's own access key and allows the session that
// "kmsctl sts get-session-token --serial-number --token-code" returns; a
// code works once; the seed is in no log line.
func TestMFAThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	acct := "111122223333"
	policy := filepath.Join(t.TempDir(), "mfa.json")
	if err := os.WriteFile(policy, []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateKey","Resource":"*",`+
		`"Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d.ok("iam", "create-user", "--user-name", "alice")
	d.ok("iam", "put-user-policy", "--user-name", "alice", "--policy-name", "mfa", "--policy-document", "file://"+policy)
	ak := d.ok("iam", "create-access-key", "--user-name", "alice")
	dev := d.ok("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "alice-phone")
	serial, seedB32 := str(dev, "VirtualMFADevice.SerialNumber"), str(dev, "VirtualMFADevice.Base32StringSeed")
	if serial != "arn:aws:iam::"+acct+":mfa/alice-phone" {
		t.Fatalf("serial number %q", serial)
	}
	seed, err := base32.StdEncoding.DecodeString(seedB32)
	if err != nil {
		t.Fatal(err)
	}
	// Enabled with the codes of the two steps before this one, so that
	// this step's code is still unused.
	now := iam.TOTPStepAt(time.Now())
	if time.Now().Unix()%30 > 25 { // too close to the next step: wait for it
		time.Sleep(5 * time.Second)
		now = iam.TOTPStepAt(time.Now())
	}
	d.ok("iam", "enable-mfa-device", "--user-name", "alice", "--serial-number", serial,
		"--authentication-code1", iam.TOTPCode(seed, now-2, 6), "--authentication-code2", iam.TOTPCode(seed, now-1, 6))
	got := d.ok("iam", "list-mfa-devices", "--user-name", "alice")
	if devs, _ := field(got, "MFADevices").([]any); len(devs) != 1 || devs[0].(map[string]any)["SerialNumber"] != serial {
		t.Fatalf("list-mfa-devices: %v", got)
	}

	asUser := []string{"KMS_ACCESS_KEY_ID=" + str(ak, "AccessKey.AccessKeyId"), "KMS_SECRET_ACCESS_KEY=" + str(ak, "AccessKey.SecretAccessKey")}
	if r := d.ctlWithEnv(asUser, "create-key"); r.code != 254 || !strings.Contains(r.stderr, "AccessDeniedException") {
		t.Fatalf("create-key with alice's access key: %d %s", r.code, r.stderr)
	}
	code := iam.TOTPCode(seed, now, 6)
	r := d.ctlWithEnv(asUser, "sts", "get-session-token", "--serial-number", serial, "--token-code", code)
	if r.code != 0 {
		t.Fatalf("get-session-token: %d %s", r.code, r.stderr)
	}
	var creds map[string]any
	if err := jsonUnmarshal(r.stdout, &creds); err != nil {
		t.Fatal(err)
	}
	asSession := []string{"KMS_ACCESS_KEY_ID=" + str(creds, "Credentials.AccessKeyId"),
		"KMS_SECRET_ACCESS_KEY=" + str(creds, "Credentials.SecretAccessKey"), "KMS_SESSION_TOKEN=" + str(creds, "Credentials.SessionToken")}
	if r := d.ctlWithEnv(asSession, "create-key"); r.code != 0 {
		t.Fatalf("create-key with the MFA session: %d %s", r.code, r.stderr)
	}
	if r := d.ctlWithEnv(asUser, "sts", "get-session-token", "--serial-number", serial, "--token-code", code); r.code != 254 ||
		!strings.Contains(r.stderr, "AccessDenied") {
		t.Fatalf("get-session-token with a used code: %d %s", r.code, r.stderr)
	}
	d.stop()
	if strings.Contains(d.log.String(), seedB32) {
		t.Fatal("the MFA seed is in kmsd's log")
	}
}
