package iam

import (
	"fmt"
	"testing"
)

// s1Case is one hand-written case of test-plan row S1: a policy set, a
// request and the expected outcome.
type s1Case struct {
	name string
	set  setup
	req  req
	want string
}

func runS1(t *testing.T, cases []s1Case) {
	t.Helper()
	for i, c := range cases {
		t.Run(fmt.Sprintf("%d_%s", i, c.name), func(t *testing.T) {
			ps := c.set.build(t)
			r := c.req.build(t)
			d := Evaluate(r, ps)
			if got := outcome(d); got != c.want {
				t.Errorf("%s: got %s (%v), want %s", c.name, got, d, c.want)
			}
		})
	}
}

var (
	idAllowAll   = stmt("Allow", "", `"kms:*"`, `"*"`, "")
	idAllowEnc   = stmt("Allow", "", `"kms:Encrypt"`, `"*"`, "")
	keyAliceAll  = stmt("Allow", aws(alArn), `"kms:*"`, `"*"`, "")
	keyAnyoneAll = stmt("Allow", `"*"`, `"kms:*"`, `"*"`, "")
)

// The key policy is the gate: identity policies count only when it
// enables them for the action.
var gateCases = []s1Case{
	{"no policies", setup{}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"no key policy, identity allows", setup{ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"no key policy, root", setup{}, req{who: "root", action: "kms:Encrypt"}, deny},
	{"enable IAM, no identity policy", setup{key: enableIAM}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"enable IAM + identity allow", setup{key: enableIAM, ids: []string{idAllowEnc}}, req{who: "alice", action: "kms:Encrypt"}, allow},
	{"enable IAM + identity allow other action", setup{key: enableIAM, ids: []string{idAllowEnc}}, req{who: "alice", action: "kms:Decrypt"}, deny},
	{"enable IAM root encrypt", setup{key: enableIAM}, req{who: "root", action: "kms:Encrypt"}, allow},
	{"enable IAM root schedule deletion", setup{key: enableIAM}, req{who: "root", action: "kms:ScheduleKeyDeletion"}, allow},
	{"enable IAM root put policy", setup{key: enableIAM}, req{who: "root", action: "kms:PutKeyPolicy"}, allow},
	{"key policy names alice, alice", setup{key: keyAliceAll}, req{who: "alice", action: "kms:Decrypt"}, allow},
	{"key policy names alice, bob with identity", setup{key: keyAliceAll, ids: []string{idAllowAll}}, req{who: "bob", action: "kms:Decrypt"}, deny},
	{"key policy names alice, root locked out", setup{key: keyAliceAll}, req{who: "root", action: "kms:Decrypt"}, deny},
	{"gate for Decrypt only: Decrypt", setup{key: stmt("Allow", aws(rootArn), `"kms:Decrypt"`, `"*"`, ""), ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Decrypt"}, allow},
	{"gate for Decrypt only: Encrypt", setup{key: stmt("Allow", aws(rootArn), `"kms:Decrypt"`, `"*"`, ""), ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"gate by bare account id", setup{key: stmt("Allow", aws(acct), `"kms:*"`, `"*"`, ""), ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Encrypt"}, allow},
	{"bare account id names root", setup{key: stmt("Allow", aws(acct), `"kms:*"`, `"*"`, "")}, req{who: "root", action: "kms:Encrypt"}, allow},
	{"gate names other account", setup{key: stmt("Allow", aws("arn:aws:iam::444455556666:root"), `"kms:*"`, `"*"`, ""), ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"other account user, our gate", setup{key: enableIAM, ids: []string{idAllowAll}}, req{who: "eve", action: "kms:Encrypt"}, deny},
	{"other account root", setup{key: enableIAM}, req{who: "root2", action: "kms:Encrypt"}, deny},
	{"gate with false condition", setup{key: stmt("Allow", aws(rootArn), `"kms:*"`, `"*"`, `{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`), ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"gate with true condition", setup{key: stmt("Allow", aws(rootArn), `"kms:*"`, `"*"`, `{"StringEquals":{"kms:CallerAccount":"111122223333"}}`), ids: []string{idAllowAll}}, req{who: "alice", action: "kms:Encrypt"}, allow},
	{"anyone principal: eve", setup{key: keyAnyoneAll}, req{who: "eve", action: "kms:Encrypt"}, allow},
	{"anyone principal: svc", setup{key: keyAnyoneAll}, req{who: "svc", action: "kms:Encrypt"}, allow},
	{"anyone principal: root", setup{key: keyAnyoneAll}, req{who: "root", action: "kms:Encrypt"}, allow},
	{"AWS star principal", setup{key: stmt("Allow", `{"AWS":"*"}`, `"kms:Decrypt"`, `"*"`, "")}, req{who: "sess", action: "kms:Decrypt"}, allow},
	{"service principal named", setup{key: stmt("Allow", `{"Service":"logs.amazonaws.com"}`, `"kms:Encrypt"`, `"*"`, "")}, req{who: "svc", action: "kms:Encrypt"}, allow},
	{"service principal not named", setup{key: enableIAM, ids: []string{idAllowAll}}, req{who: "svc", action: "kms:Encrypt"}, deny},
	{"service principal other service", setup{key: stmt("Allow", `{"Service":"s3.amazonaws.com"}`, `"kms:Encrypt"`, `"*"`, "")}, req{who: "svc", action: "kms:Encrypt"}, deny},
	{"role ARN names its sessions", setup{key: stmt("Allow", aws(roleArn), `"kms:Decrypt"`, `"*"`, "")}, req{who: "sess", action: "kms:Decrypt"}, allow},
	{"session ARN names that session", setup{key: stmt("Allow", aws(sessArn), `"kms:Decrypt"`, `"*"`, "")}, req{who: "sess", action: "kms:Decrypt"}, allow},
	{"session ARN not another session", setup{key: stmt("Allow", aws(sessArn), `"kms:Decrypt"`, `"*"`, "")}, req{who: "sess2", action: "kms:Decrypt"}, deny},
	{"role ARN not another role", setup{key: stmt("Allow", aws(roleArn), `"kms:Decrypt"`, `"*"`, "")}, req{who: "ops", action: "kms:Decrypt"}, deny},
	{"role with path", setup{key: stmt("Allow", aws("arn:aws:iam::111122223333:role/ops/admin"), `"kms:Decrypt"`, `"*"`, "")}, req{who: "ops", action: "kms:Decrypt"}, allow},
	{"role without its path", setup{key: stmt("Allow", aws("arn:aws:iam::111122223333:role/admin"), `"kms:Decrypt"`, `"*"`, "")}, req{who: "ops", action: "kms:Decrypt"}, deny},
	{"session via gate", setup{key: enableIAM, ids: []string{idAllowAll}}, req{who: "sess", action: "kms:Decrypt"}, allow},
	{"user with path named", setup{key: stmt("Allow", aws("arn:aws:iam::111122223333:user/team/carol"), `"kms:*"`, `"*"`, "")}, req{who: "carol", action: "kms:Encrypt"}, allow},
	{"user without its path", setup{key: stmt("Allow", aws("arn:aws:iam::111122223333:user/carol"), `"kms:*"`, `"*"`, "")}, req{who: "carol", action: "kms:Encrypt"}, deny},
	{"user named by role-like ARN", setup{key: stmt("Allow", aws("arn:aws:iam::111122223333:role/alice"), `"kms:*"`, `"*"`, "")}, req{who: "alice", action: "kms:Encrypt"}, deny},
	{"principal list", setup{key: stmt("Allow", aws(bobArn, alArn), `"kms:*"`, `"*"`, "")}, req{who: "alice", action: "kms:Encrypt"}, allow},
	{"identity allows in second policy", setup{key: enableIAM, ids: []string{idAllowEnc, stmt("Allow", "", `"kms:Decrypt"`, `"*"`, "")}}, req{who: "alice", action: "kms:Decrypt"}, allow},
	{"keyless action, identity", setup{ids: []string{stmt("Allow", "", `"kms:ListKeys"`, `"*"`, "")}}, req{who: "alice", action: "kms:ListKeys", resource: "*"}, allow},
	{"keyless action, no identity", setup{}, req{who: "alice", action: "kms:ListKeys", resource: "*"}, deny},
	{"keyless action, root", setup{}, req{who: "root", action: "kms:CreateKey", resource: "*"}, allow},
	{"keyless action, service", setup{}, req{who: "svc", action: "kms:CreateKey", resource: "*"}, deny},
	{"CreateKey by wildcard", setup{ids: []string{stmt("Allow", "", `"kms:Create*"`, `"*"`, "")}}, req{who: "bob", action: "kms:CreateKey", resource: "*"}, allow},
	{"GenerateRandom", setup{ids: []string{stmt("Allow", "", `"kms:GenerateRandom"`, `"*"`, "")}}, req{who: "bob", action: "kms:GenerateRandom", resource: "*"}, allow},
	{"key policy given for keyless action gates it", setup{key: keyAliceAll, ids: []string{idAllowAll}}, req{who: "bob", action: "kms:ListKeys", resource: "*"}, deny},
	{"unknown action", setup{key: keyAnyoneAll}, req{who: "alice", action: "kms:Frobnicate"}, deny},
	{"action in other case is canonicalised", setup{key: keyAnyoneAll}, req{who: "alice", action: "KMS:ENCRYPT"}, allow},
	{"empty action", setup{key: keyAnyoneAll}, req{who: "alice", action: ""}, deny},
}

func TestS1Gate(t *testing.T) { runS1(t, gateCases) }

// An explicit Deny anywhere wins.
var denyCases = []s1Case{
	{"key deny beats key allow", setup{key: stmt("Deny", aws(alArn), `"kms:Decrypt"`, `"*"`, "") + "," + keyAliceAll}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"key deny other action", setup{key: stmt("Deny", aws(alArn), `"kms:Decrypt"`, `"*"`, "") + "," + keyAliceAll}, req{who: "alice", action: "kms:Encrypt"}, allow},
	{"key deny naming account denies users", setup{key: stmt("Deny", aws(rootArn), `"kms:Decrypt"`, `"*"`, "") + "," + keyAliceAll}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"key deny naming account denies root", setup{key: stmt("Deny", aws(rootArn), `"kms:Decrypt"`, `"*"`, "") + "," + enableIAM}, req{who: "root", action: "kms:Decrypt"}, explicit},
	{"key deny naming account denies sessions", setup{key: stmt("Deny", aws(acct), `"kms:Decrypt"`, `"*"`, "") + "," + keyAnyoneAll}, req{who: "sess", action: "kms:Decrypt"}, explicit},
	{"key deny naming account spares services", setup{key: stmt("Deny", aws(acct), `"kms:Decrypt"`, `"*"`, "") + "," + keyAnyoneAll}, req{who: "svc", action: "kms:Decrypt"}, allow},
	{"key deny other user", setup{key: stmt("Deny", aws(bobArn), `"kms:*"`, `"*"`, "") + "," + keyAliceAll}, req{who: "alice", action: "kms:Decrypt"}, allow},
	{"key deny star", setup{key: stmt("Deny", `"*"`, `"kms:ScheduleKeyDeletion"`, `"*"`, "") + "," + enableIAM}, req{who: "root", action: "kms:ScheduleKeyDeletion"}, explicit},
	{"identity deny beats key allow", setup{key: keyAliceAll, ids: []string{stmt("Deny", "", `"kms:Decrypt"`, `"*"`, "")}}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"identity deny beats identity allow", setup{key: enableIAM, ids: []string{idAllowAll, stmt("Deny", "", `"kms:Decrypt"`, `"*"`, "")}}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"identity deny in same policy", setup{key: enableIAM, ids: []string{stmt("Deny", "", `"kms:Decrypt"`, `"*"`, "") + "," + idAllowAll}}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"identity deny applies even when not enabled", setup{key: keyAliceAll, ids: []string{stmt("Deny", "", `"kms:*"`, `"*"`, "")}}, req{who: "alice", action: "kms:Encrypt"}, explicit},
	{"identity deny other resource", setup{key: keyAliceAll, ids: []string{stmt("Deny", "", `"kms:*"`, `"`+key2ARN+`"`, "")}}, req{who: "alice", action: "kms:Encrypt"}, allow},
	{"identity deny with false condition", setup{key: keyAliceAll, ids: []string{stmt("Deny", "", `"kms:*"`, `"*"`, `{"Bool":{"aws:SecureTransport":"false"}}`)}}, req{who: "alice", action: "kms:Encrypt", ctx: map[string][]string{"aws:SecureTransport": {"true"}}}, allow},
	{"identity deny with true condition", setup{key: keyAliceAll, ids: []string{stmt("Deny", "", `"kms:*"`, `"*"`, `{"Bool":{"aws:SecureTransport":"false"}}`)}}, req{who: "alice", action: "kms:Encrypt", ctx: map[string][]string{"aws:SecureTransport": {"false"}}}, explicit},
	{"grant does not override key deny", setup{key: stmt("Deny", aws(alArn), `"kms:Decrypt"`, `"*"`, ""), grants: []Grant{{ID: "g", GranteePrincipal: alArn, Operations: []string{"Decrypt"}}}}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"grant does not override identity deny", setup{key: enableIAM, ids: []string{stmt("Deny", "", `"kms:Decrypt"`, `"*"`, "")}, grants: []Grant{{ID: "g", GranteePrincipal: alArn, Operations: []string{"Decrypt"}}}}, req{who: "alice", action: "kms:Decrypt"}, explicit},
	{"grant does not override session deny", setup{key: enableIAM, session: stmt("Deny", "", `"kms:Decrypt"`, `"*"`, ""), grants: []Grant{{ID: "g", GranteePrincipal: sessArn, Operations: []string{"Decrypt"}}}}, req{who: "sess", action: "kms:Decrypt"}, explicit},
	{"session deny beats key allow", setup{key: stmt("Allow", aws(roleArn), `"kms:*"`, `"*"`, ""), session: stmt("Deny", "", `"kms:Decrypt"`, `"*"`, "") + "," + stmt("Allow", "", `"*"`, `"*"`, "")}, req{who: "sess", action: "kms:Decrypt"}, explicit},
	{"session deny beats session-ARN key allow", setup{key: stmt("Allow", aws(sessArn), `"kms:*"`, `"*"`, ""), session: stmt("Deny", "", `"kms:Decrypt"`, `"*"`, "")}, req{who: "sess", action: "kms:Decrypt"}, explicit},
}

func TestS1Deny(t *testing.T) { runS1(t, denyCases) }
