package iam

import (
	"testing"
	"time"
)

// keyUserRequest is a typical request: a user with the predefined key user
// policy generates a data key under a key with a two-statement key policy,
// with an encryption context, a source address and the time.
func keyUserRequest(b *testing.B) (*Request, *PolicySet) {
	keyPolicy := parseT(b, doc(enableIAM, stmt("Deny", `"*"`, `"kms:*"`, `"*"`, `{"Bool":{"aws:SecureTransport":"false"}}`)), KeyPolicy, "key")
	r := &Request{Principal: principals["alice"], Action: "kms:GenerateDataKey", Resource: keyARN, Time: time.Unix(1750000000, 0)}
	r.Context.SetEncryptionContext(map[string]string{"app": "pay", "env": "prod"})
	r.Context.Set("aws:SourceIp", "10.1.2.3")
	r.Context.Set("aws:SecureTransport", "true")
	ps := &PolicySet{Resource: keyPolicy, Identity: []*Policy{
		parseT(b, doc(stmt("Allow", "", `"iam:Get*"`, `"*"`, "")), IdentityPolicy, "inline"),
		KeyUser.Policy(),
	}}
	return r, ps
}

func BenchmarkEvaluate(b *testing.B) {
	r, ps := keyUserRequest(b)
	if d := Evaluate(r, ps); !d.Allowed() {
		b.Fatalf("the benchmark request is denied: %v", d)
	}
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(r, ps)
	}
}

// BenchmarkEvaluateDeny is the same request without an identity allow: every
// statement is examined.
func BenchmarkEvaluateDeny(b *testing.B) {
	r, ps := keyUserRequest(b)
	r.Action = "kms:ScheduleKeyDeletion"
	b.ReportAllocs()
	for b.Loop() {
		Evaluate(r, ps)
	}
}

func BenchmarkParseDefaultKeyPolicy(b *testing.B) {
	d := []byte(DefaultKeyPolicy(acct))
	b.ReportAllocs()
	b.SetBytes(int64(len(d)))
	for b.Loop() {
		if _, err := Parse(d, KeyPolicy); err != nil {
			b.Fatal(err)
		}
	}
}
