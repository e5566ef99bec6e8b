package iam_test

import (
	"fmt"

	"github.com/kmsd/kmsd/iam"
)

// A key with the default key policy, and a user whose identity policy is
// the predefined key user policy: the key policy enables IAM policies, so
// the user may generate data keys but not disable the key.
func ExampleEvaluate() {
	const account = "111122223333"
	keyARN := iam.KeyARN("us-east-1", account, "1234abcd-12ab-34cd-56ef-1234567890ab")

	keyPolicy := iam.MustParse(iam.DefaultKeyPolicy(account), iam.KeyPolicy)
	keyPolicy.Name = "key-policy"
	alice, _ := iam.UserPrincipal("arn:aws:iam::111122223333:user/alice", "AIDAEXAMPLEALICE")
	set := &iam.PolicySet{Resource: keyPolicy, Identity: []*iam.Policy{iam.KeyUser.Policy()}}

	for _, action := range []string{"kms:GenerateDataKey", "kms:DisableKey"} {
		d := iam.Evaluate(&iam.Request{Principal: alice, Action: action, Resource: keyARN}, set)
		fmt.Println(action, d)
	}
	// Output:
	// kms:GenerateDataKey Allow: identity policy allows (policy "arn:aws:iam::aws:policy/KmsdKeyUser" statement "KeyUse") via policy "key-policy" statement "Enable IAM User Permissions"
	// kms:DisableKey Deny: no statement allows
}

// Conditions on the encryption context: the key policy lets the
// application role decrypt only data of its own tenant.
func ExampleParse() {
	doc := `{
	  "Version": "2012-10-17",
	  "Statement": [{
	    "Sid": "TenantDecrypt",
	    "Effect": "Allow",
	    "Principal": {"AWS": "arn:aws:iam::111122223333:role/app"},
	    "Action": "kms:Decrypt",
	    "Resource": "*",
	    "Condition": {"StringEquals": {"kms:EncryptionContext:tenant": "${aws:PrincipalTag/tenant}"}}
	  }]
	}`
	_, err := iam.Parse([]byte(doc), iam.KeyPolicy)
	fmt.Println(err)

	_, err = iam.Parse([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"allow","Principal":"*","Action":"kms:Decrypt","Resource":"*"}}`), iam.KeyPolicy)
	fmt.Println(err)
	// Output:
	// <nil>
	// iam: invalid policy document: Statement.Effect: "allow" is not Allow or Deny
}
