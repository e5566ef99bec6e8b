package iam

import "testing"

// TestAccountStatementWithoutSid: a resource policy's statement that names
// the account opens the identity layer wherever it is, with or without a
// Sid, in a named or an unnamed policy (the first statement of an unnamed
// policy without a Sid was once taken for "no such statement").
func TestAccountStatementWithoutSid(t *testing.T) {
	user, err := UserPrincipal("arn:aws:iam::111122223333:user/caller", "AIDAEXAMPLEEXAMPLE000")
	if err != nil {
		t.Fatal(err)
	}
	identity, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["sts:AssumeRole","kms:Encrypt"],"Resource":"*"}]}`), IdentityPolicy)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, doc, action, resource string
		kind                        Kind
	}{
		{"trust, first statement, no Sid", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"sts:AssumeRole"}]}`,
			"sts:AssumeRole", "arn:aws:iam::111122223333:role/r", TrustPolicy},
		{"trust, account id, second statement", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"sts:AssumeRole"},{"Effect":"Allow","Principal":{"AWS":"111122223333"},"Action":"sts:AssumeRole"}]}`,
			"sts:AssumeRole", "arn:aws:iam::111122223333:role/r", TrustPolicy},
		{"key policy, first statement, no Sid", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]}`,
			"kms:Encrypt", "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", KeyPolicy},
	} {
		p, err := Parse([]byte(c.doc), c.kind)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		d := Evaluate(&Request{Principal: user, Action: c.action, Resource: c.resource}, &PolicySet{Resource: p, Identity: []*Policy{identity}})
		if !d.Allowed() {
			t.Errorf("%s: %v, want Allow through the identity policy", c.name, d)
		}
		if d := Evaluate(&Request{Principal: user, Action: c.action, Resource: c.resource}, &PolicySet{Resource: p}); d.Allowed() {
			t.Errorf("%s, no identity policy: %v, want Deny", c.name, d)
		}
	}
}
