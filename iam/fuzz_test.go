package iam

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

// Test-plan row F3: no input makes Parse or Evaluate panic, the limits
// hold, and evaluating an accepted policy is bounded.

func fuzzSeeds() [][]byte {
	seeds := [][]byte{
		[]byte(DefaultKeyPolicy(acct)),
		[]byte(KeyAdministrator.Document), []byte(KeyUser.Document), []byte(Auditor.Document),
		[]byte(doc(keyAliceAll, stmt("Deny", `{"AWS":["*"]}`, `"kms:Decrypt"`, `"*"`, `{"StringNotEquals":{"kms:EncryptionContext:app":"pay"},"IpAddress":{"aws:SourceIp":["10.0.0.0/8","2001:db8::/32"]}}`))),
		[]byte(doc(stmt("Allow", "", `["kms:*","iam:Get*"]`, `"arn:aws:iam::111122223333:user/${aws:username}"`, `{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["a*","${*}"]},"DateLessThan":{"aws:CurrentTime":"2030-01-01"},"NumericLessThanEquals":{"aws:MultiFactorAuthAge":3600},"Null":{"aws:username":false}}`))),
		[]byte(`{"Statement":{"Effect":"Allow","NotPrincipal":{"AWS":"111122223333","Service":"logs.amazonaws.com"},"NotAction":"kms:Sign","NotResource":"*"}}`),
		[]byte(`{"Statement":[{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/*"}}}]}`),
		[]byte(`{"Statement":"\u0041\ud83d\ude00\\"}`),
		[]byte(`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]`),
		[]byte(`{"Statement":[` + string(bytes.Repeat([]byte(`{},`), 300)) + `{}]}`),
		[]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"StringLike":{"kms:EncryptionContext:a":"*a*a*a*a*a*a*a*a*a*a*b"}}}}`),
	}
	return seeds
}

func FuzzPolicyParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		for k := range 3 {
			f.Add(s, uint8(k))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, k uint8) {
		kind := Kind(k%3) + IdentityPolicy
		p, err := Parse(b, kind)
		if err != nil {
			var pe *PolicyError
			if !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPolicy) && !errors.Is(err, ErrPolicyLimit) {
				t.Fatalf("error of the wrong kind: %v", err)
			}
			return
		}
		if len(b) > MaxPolicySize || p.Len() == 0 || p.Len() > MaxStatements {
			t.Fatalf("accepted a document outside the limits: %d bytes, %d statements", len(b), p.Len())
		}
		if p.Document() != string(b) {
			t.Fatal("Document differs from the input")
		}
		if _, err := Parse([]byte(p.Document()), kind); err != nil {
			t.Fatalf("a parsed document does not parse again: %v", err)
		}
	})
}

func FuzzPolicyEvaluate(f *testing.F) {
	for i, s := range fuzzSeeds() {
		f.Add(s, "kms:Decrypt", keyARN, "app", "pay", "10.1.2.3", uint8(i))
	}
	f.Add([]byte(DefaultKeyPolicy(acct)), "KMS:decrypt", keyARN+"/", "", "", "::ffff:1.2.3.4", uint8(3))
	whos := []string{"root", "alice", "bob", "carol", "sess", "ops", "svc", "eve"}
	f.Fuzz(func(t *testing.T, b []byte, action, resource, ecKey, ecVal, ip string, who uint8) {
		if len(action)+len(resource)+len(ecKey)+len(ecVal)+len(ip) > 1024 {
			return // the server bounds request fields; see the package documentation
		}
		key, kerr := Parse(b, KeyPolicy)
		id, ierr := Parse(b, IdentityPolicy)
		if kerr != nil && ierr != nil {
			return
		}
		r := &Request{Principal: principals[whos[int(who)%len(whos)]], Action: action, Resource: resource, Time: time.Unix(1750000000, 0)}
		r.Context.SetEncryptionContext(map[string]string{ecKey: ecVal})
		r.Context.Set("aws:SourceIp", ip)
		r.Context.Set("kms:GrantConstraintType", ecVal)
		ps := &PolicySet{Resource: key, Session: id, Grants: []Grant{{GranteePrincipal: resource, Operations: []string{action}, EncryptionContextSubset: map[string]string{ecKey: ecVal}}}}
		if id != nil {
			ps.Identity = []*Policy{id, id}
		}
		elapsed := time.Duration(1 << 62)
		for range 3 { // the least of three runs, so that scheduling noise does not count
			start := time.Now()
			d := Evaluate(r, ps)
			elapsed = min(elapsed, time.Since(start))
			if d.Allowed() && d.Reason == ReasonExplicitDeny || !d.Allowed() && d.Reason >= ReasonResourcePolicy {
				t.Fatalf("inconsistent decision %v", d)
			}
		}
		if elapsed > 10*time.Millisecond {
			t.Fatalf("evaluation took %v", elapsed)
		}
	})
}
