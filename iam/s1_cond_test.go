package iam

import (
	"fmt"
	"testing"
)

// condCase puts one Condition on an identity policy statement that allows
// kms:* (onDeny: on a Deny statement beside an allow of everything) and
// evaluates a request of alice (unless who) to Encrypt.
type condCase struct {
	cond   string
	q      req
	want   string
	onDeny bool
}

func ec(kv ...string) map[string]string {
	m := make(map[string]string)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func cx(k string, v ...string) map[string][]string { return map[string][]string{k: v} }

const (
	y2025 = "2025-06-01T12:00:00Z"
	y2031 = "2031-01-01T00:00:00Z"
)

var condCases = []condCase{
	// StringEquals and the encryption context.
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pay")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "Pay")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("App", "pay")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:App":"pay"}}`, req{ec: ec("app", "pay")}, deny, false},
	{`{"StringEquals":{"KMS:encryptioncontext:app":"pay"}}`, req{ec: ec("app", "pay")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("аpp", "pay")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app ", "pay")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pay ")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":["pay","hr"]}}`, req{ec: ec("app", "hr")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":["pay","hr"]}}`, req{ec: ec("app", "ops")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay","kms:EncryptionContext:env":"prod"}}`, req{ec: ec("app", "pay", "env", "prod")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay","kms:EncryptionContext:env":"prod"}}`, req{ec: ec("app", "pay")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"},"Bool":{"aws:SecureTransport":"true"}}`, req{ec: ec("app", "pay"), ctx: cx("aws:SecureTransport", "true")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"pay"},"Bool":{"aws:SecureTransport":"true"}}`, req{ec: ec("app", "pay"), ctx: cx("aws:SecureTransport", "false")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"p*"}}`, req{ec: ec("app", "pay")}, deny, false},
	{`{"StringEquals":{"kms:EncryptionContext:app":"p*"}}`, req{ec: ec("app", "p*")}, allow, false},
	{`{"StringEquals":{"kms:CallerAccount":"111122223333"}}`, req{}, allow, false},
	{`{"StringEquals":{"kms:CallerAccount":"444455556666"}}`, req{}, deny, false},
	{`{"StringEquals":{"aws:PrincipalAccount":"111122223333"}}`, req{who: "sess"}, allow, false},
	{`{"StringEquals":{"aws:PrincipalType":"User"}}`, req{}, allow, false},
	{`{"StringEquals":{"aws:PrincipalType":"User"}}`, req{who: "sess"}, deny, false},
	{`{"StringEquals":{"aws:PrincipalType":"AssumedRole"}}`, req{who: "sess"}, allow, false},
	{`{"StringEquals":{"aws:username":"alice"}}`, req{}, allow, false},
	{`{"StringEquals":{"aws:username":"alice"}}`, req{who: "bob"}, deny, false},
	{`{"StringEquals":{"aws:username":"alice"}}`, req{who: "sess"}, deny, false},
	{`{"StringEquals":{"aws:username":"alice"}}`, req{who: "bob", ctx: cx("aws:username", "alice")}, deny, false},
	{`{"StringEquals":{"AWS:USERNAME":"alice"}}`, req{}, allow, false},
	{`{"StringEquals":{"aws:username":"Alice"}}`, req{}, deny, false},
	{`{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, req{ctx: cx("kms:ViaService", "ec2.us-east-1.amazonaws.com")}, allow, false},
	{`{"StringEquals":{"kms:ViaService":"ec2.us-east-1.amazonaws.com"}}`, req{ctx: cx("KMS:VIASERVICE", "ec2.us-east-1.amazonaws.com")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}}`, req{ctx: cx("kms:EncryptionAlgorithm", "SYMMETRIC_DEFAULT")}, allow, false},
	{`{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}`, req{ctx: cx("kms:KeySpec", "RSA_2048")}, deny, false},
	{`{"StringEquals":{"kms:RequestAlias":"alias/pay"}}`, req{ctx: cx("kms:RequestAlias", "alias/pay")}, allow, false},
	{`{"StringEquals":{"kms:RequestAlias":"alias/pay"}}`, req{ctx: cx("kms:RequestAlias", "alias/pay/")}, deny, false},
	// StringNotEquals.
	{`{"StringNotEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pay")}, deny, false},
	{`{"StringNotEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "hr")}, allow, false},
	{`{"StringNotEquals":{"kms:EncryptionContext:app":"pay"}}`, req{}, allow, false},
	{`{"StringNotEquals":{"kms:EncryptionContext:app":["pay","hr"]}}`, req{ec: ec("app", "hr")}, deny, false},
	{`{"StringNotEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pay")}, allow, true},
	{`{"StringNotEquals":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "hr")}, explicit, true},
	{`{"StringNotEquals":{"kms:EncryptionContext:app":"pay"}}`, req{}, explicit, true},
	{`{"StringNotEqualsIfExists":{"kms:EncryptionContext:app":"pay"}}`, req{}, explicit, true},
	{`{"StringNotEqualsIfExists":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pay")}, allow, true},
	// IgnoreCase.
	{`{"StringEqualsIgnoreCase":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "PAY")}, allow, false},
	{`{"StringEqualsIgnoreCase":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pya")}, deny, false},
	{`{"StringEqualsIgnoreCase":{"kms:EncryptionContext:app":"key"}}`, req{ec: ec("app", "\u212Aey")}, deny, false},
	{`{"StringEqualsIgnoreCase":{"kms:EncryptionContext:app":"straße"}}`, req{ec: ec("app", "STRASSE")}, deny, false},
	{`{"StringEqualsIgnoreCase":{"kms:EncryptionContext:app":"pay"}}`, req{}, deny, false},
	{`{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "PaY")}, deny, false},
	{`{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "hr")}, allow, false},
	{`{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:app":"pay"}}`, req{}, allow, false},
	// StringLike.
	{`{"StringLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{ec: ec("app", "pay-eu")}, allow, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{ec: ec("app", "pay-")}, allow, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{ec: ec("app", "hr")}, deny, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{ec: ec("app", "PAY-eu")}, deny, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"p?y"}}`, req{ec: ec("app", "pay")}, allow, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"p?y"}}`, req{ec: ec("app", "paay")}, deny, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"p?y"}}`, req{ec: ec("app", "päy")}, allow, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"*"}}`, req{ec: ec("app", "anything")}, allow, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"*"}}`, req{}, deny, false},
	{`{"StringLike":{"kms:EncryptionContext:app":"*a*a*a*b"}}`, req{ec: ec("app", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac")}, deny, false},
	{`{"StringLike":{"kms:EncryptionContext:app":["x*","*y"]}}`, req{ec: ec("app", "zzy")}, allow, false},
	{`{"StringNotLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{ec: ec("app", "pay-eu")}, deny, false},
	{`{"StringNotLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{ec: ec("app", "hr")}, allow, false},
	{`{"StringNotLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{}, allow, false},
	{`{"StringNotLike":{"kms:EncryptionContext:app":"pay-*"}}`, req{}, explicit, true},
	// IfExists.
	{`{"StringEqualsIfExists":{"kms:EncryptionContext:app":"pay"}}`, req{}, allow, false},
	{`{"StringEqualsIfExists":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "hr")}, deny, false},
	{`{"StringEqualsIfExists":{"kms:EncryptionContext:app":"pay"}}`, req{ec: ec("app", "pay")}, allow, false},
	{`{"StringLikeIfExists":{"kms:EncryptionContext:app":"pay*"}}`, req{}, allow, false},
	{`{"StringEqualsIfExists":{"kms:EncryptionContext:app":"pay"}}`, req{}, explicit, true},
	// Numeric.
	{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "100")}, allow, false},
	{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "3600")}, deny, false},
	{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "4000")}, deny, false},
	{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, req{}, deny, false},
	{`{"NumericLessThan":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "abc")}, deny, false},
	{`{"NumericLessThan":{"aws:MultiFactorAuthAge":3600}}`, req{ctx: cx("aws:MultiFactorAuthAge", "-5")}, allow, false},
	{`{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "3600")}, allow, false},
	{`{"NumericLessThanEquals":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "3601")}, deny, false},
	{`{"NumericGreaterThan":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "11")}, allow, false},
	{`{"NumericGreaterThan":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "10")}, deny, false},
	{`{"NumericGreaterThanEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "10")}, allow, false},
	{`{"NumericGreaterThanEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "9.99")}, deny, false},
	{`{"NumericEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "10.0")}, allow, false},
	{`{"NumericEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "1e1")}, allow, false},
	{`{"NumericEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "0x0a")}, deny, false},
	{`{"NumericEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", " 10")}, deny, false},
	{`{"NumericEquals":{"aws:MultiFactorAuthAge":["1","2"]}}`, req{ctx: cx("aws:MultiFactorAuthAge", "2")}, allow, false},
	{`{"NumericNotEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "11")}, allow, false},
	{`{"NumericNotEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "10")}, deny, false},
	{`{"NumericNotEquals":{"aws:MultiFactorAuthAge":"10"}}`, req{}, allow, false},
	{`{"NumericLessThanIfExists":{"aws:MultiFactorAuthAge":"3600"}}`, req{}, allow, false},
	{`{"NumericGreaterThan":{"aws:MultiFactorAuthAge":"3600"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "7200")}, explicit, true},
	// Dates.
	{`{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{at: y2025}, allow, false},
	{`{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{at: y2031}, deny, false},
	{`{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{}, deny, false},
	{`{"DateLessThan":{"aws:CurrentTime":"2030-01-01"}}`, req{at: y2025}, allow, false},
	{`{"DateLessThan":{"aws:CurrentTime":"1893456000"}}`, req{at: y2025}, allow, false},
	{`{"DateLessThan":{"aws:CurrentTime":1893456000}}`, req{at: y2031}, deny, false},
	{`{"DateLessThan":{"aws:CurrentTime":"2030-01-01T01:00:00+01:00"}}`, req{at: "2030-01-01T00:00:00Z"}, deny, false},
	{`{"DateLessThanEquals":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{at: "2030-01-01T00:00:00Z"}, allow, false},
	{`{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{at: y2031}, allow, false},
	{`{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{at: y2025}, deny, false},
	{`{"DateGreaterThanEquals":{"aws:CurrentTime":"2031-01-01T00:00:00Z"}}`, req{at: y2031}, allow, false},
	{`{"DateEquals":{"aws:CurrentTime":"2031-01-01T00:00:00Z"}}`, req{at: y2031}, allow, false},
	{`{"DateEquals":{"aws:CurrentTime":"2031-01-01T00:00:01Z"}}`, req{at: y2031}, deny, false},
	{`{"DateNotEquals":{"aws:CurrentTime":"2031-01-01T00:00:00Z"}}`, req{at: y2031}, deny, false},
	{`{"DateNotEquals":{"aws:CurrentTime":"2031-01-01T00:00:00Z"}}`, req{at: y2025}, allow, false},
	{`{"DateNotEquals":{"aws:CurrentTime":"2031-01-01T00:00:00Z"}}`, req{}, allow, false},
	{`{"DateGreaterThan":{"aws:EpochTime":"1735689600"}}`, req{at: y2025}, allow, false},
	{`{"DateGreaterThan":{"aws:EpochTime":"2025-12-31T00:00:00Z"}}`, req{at: y2025}, deny, false},
	{`{"NumericGreaterThan":{"aws:EpochTime":"1735689600"}}`, req{at: y2025}, allow, false},
	{`{"StringLike":{"aws:CurrentTime":"2025-06-*"}}`, req{at: y2025}, allow, false},
	{`{"DateLessThan":{"kmsd:expires":"2030-01-01T00:00:00Z"}}`, req{ctx: cx("kmsd:expires", "2029-12-31T23:59:59Z")}, allow, false},
	{`{"DateLessThan":{"kmsd:expires":"2030-01-01T00:00:00Z"}}`, req{ctx: cx("kmsd:expires", "tomorrow")}, deny, false},
	{`{"DateLessThanIfExists":{"kmsd:expires":"2030-01-01T00:00:00Z"}}`, req{}, allow, false},
	{`{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}}`, req{at: y2031}, explicit, true},
	{`{"aws:CurrentTime":{"DateGreaterThan":"2030-01-01T00:00:00Z"}}`, req{at: y2031}, "parse error", false},
	// Bool.
	{`{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`, req{ctx: cx("aws:MultiFactorAuthPresent", "true")}, allow, false},
	{`{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`, req{ctx: cx("aws:MultiFactorAuthPresent", "false")}, deny, false},
	{`{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`, req{}, deny, false},
	{`{"Bool":{"aws:MultiFactorAuthPresent":true}}`, req{ctx: cx("aws:MultiFactorAuthPresent", "true")}, allow, false},
	{`{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`, req{ctx: cx("aws:MultiFactorAuthPresent", "TRUE")}, allow, false},
	{`{"Bool":{"aws:MultiFactorAuthPresent":"true"}}`, req{ctx: cx("aws:MultiFactorAuthPresent", "yes")}, deny, false},
	{`{"Bool":{"aws:MultiFactorAuthPresent":"false"}}`, req{}, deny, false},
	{`{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, req{}, allow, false},
	{`{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, req{ctx: cx("aws:MultiFactorAuthPresent", "true")}, deny, false},
	{`{"Bool":{"aws:SecureTransport":"false"}}`, req{ctx: cx("aws:SecureTransport", "false")}, explicit, true},
	{`{"BoolIfExists":{"aws:MultiFactorAuthPresent":"false"}}`, req{}, explicit, true},
	{`{"Bool":{"kms:GrantIsForAWSResource":"true"}}`, req{ctx: cx("kms:GrantIsForAWSResource", "true")}, allow, false},
	// IP addresses.
	{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "10.1.2.3")}, allow, false},
	{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "11.0.0.1")}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "10.1.2.3.4")}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "::ffff:10.1.2.3")}, allow, false},
	{`{"IpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "010.1.2.3")}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":"192.0.2.7"}}`, req{ctx: cx("aws:SourceIp", "192.0.2.7")}, allow, false},
	{`{"IpAddress":{"aws:SourceIp":"192.0.2.7"}}`, req{ctx: cx("aws:SourceIp", "192.0.2.8")}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":"10.1.2.3/8"}}`, req{ctx: cx("aws:SourceIp", "10.200.0.1")}, allow, false},
	{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, req{ctx: cx("aws:SourceIp", "2001:db8::1")}, allow, false},
	{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, req{ctx: cx("aws:SourceIp", "2001:db9::1")}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":"2001:db8::/32"}}`, req{ctx: cx("aws:SourceIp", "10.0.0.1")}, deny, false},
	{`{"IpAddress":{"aws:SourceIp":["192.0.2.0/24","10.0.0.0/8"]}}`, req{ctx: cx("aws:SourceIp", "10.9.9.9")}, allow, false},
	{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "10.1.2.3")}, deny, false},
	{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "192.0.2.1")}, allow, false},
	{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{}, allow, false},
	{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "192.0.2.1")}, explicit, true},
	{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, req{ctx: cx("aws:SourceIp", "10.0.0.9")}, allow, true},
	{`{"IpAddressIfExists":{"aws:SourceIp":"10.0.0.0/8"}}`, req{}, allow, false},
	// ARNs.
	{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, req{}, allow, false},
	{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, req{who: "bob"}, deny, false},
	{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}}`, req{who: "bob", ctx: cx("aws:PrincipalArn", alArn)}, deny, false},
	{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, req{}, allow, false},
	{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, req{who: "sess"}, deny, false},
	{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/app"}}`, req{who: "sess"}, allow, false},
	{`{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::*:user/alice"}}`, req{}, allow, false},
	{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:*:user/alice"}}`, req{}, "parse error", false},
	{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:*::*:user/alice"}}`, req{}, allow, false},
	{`{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/ALICE"}}`, req{}, deny, false},
	{`{"ArnLike":{"aws:PrincipalArn":"*"}}`, req{}, allow, false},
	{`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/bob"}}`, req{}, allow, false},
	{`{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/bob"}}`, req{who: "bob"}, deny, false},
	{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, req{}, deny, false},
	{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}}`, req{who: "sess"}, allow, false},
	{`{"ArnLike":{"kmsd:source":"arn:aws:kms:*:111122223333:key/*"}}`, req{ctx: cx("kmsd:source", "not-an-arn")}, deny, false},
	{`{"ArnNotLike":{"kmsd:source":"arn:aws:kms:*:111122223333:key/*"}}`, req{ctx: cx("kmsd:source", "not-an-arn")}, allow, false},
	{`{"ArnLike":{"kmsd:source":"arn:aws:kms:*:111122223333:key/*"}}`, req{ctx: cx("kmsd:source", keyARN)}, allow, false},
	{`{"ArnLike":{"kmsd:source":"arn:aws:kms:us-east-1:111122223333:*"}}`, req{ctx: cx("kmsd:source", "arn:aws:kms:us-east-1:111122223333:key/a:b")}, allow, false},
	{`{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app"}}`, req{}, explicit, true},
	{`{"ArnLike":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:role/*"}}`, req{ctx: cx("kms:GranteePrincipal", roleArn)}, allow, false},
	// Null.
	{`{"Null":{"kms:EncryptionContext:app":"false"}}`, req{ec: ec("app", "x")}, allow, false},
	{`{"Null":{"kms:EncryptionContext:app":"false"}}`, req{}, deny, false},
	{`{"Null":{"kms:EncryptionContext:app":"true"}}`, req{}, allow, false},
	{`{"Null":{"kms:EncryptionContext:app":"true"}}`, req{ec: ec("app", "x")}, deny, false},
	{`{"Null":{"kms:EncryptionContextKeys":"true"}}`, req{ec: ec()}, allow, false},
	{`{"Null":{"kms:EncryptionContextKeys":"false"}}`, req{ec: ec("a", "1")}, allow, false},
	{`{"Null":{"aws:username":"true"}}`, req{who: "sess"}, allow, false},
	{`{"Null":{"aws:username":"true"}}`, req{}, deny, false},
	{`{"Null":{"aws:MultiFactorAuthAge":true}}`, req{}, explicit, true},
	{`{"Null":{"aws:MultiFactorAuthAge":"true"}}`, req{ctx: cx("aws:MultiFactorAuthAge", "5")}, allow, true},
	{`{"Null":{"kms:EncryptionContext:app":["true","false"]}}`, req{}, allow, false},
	// Set qualifiers.
	{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app","env"]}}`, req{ec: ec("app", "1")}, allow, false},
	{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app","env"]}}`, req{ec: ec("app", "1", "env", "2")}, allow, false},
	{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app","env"]}}`, req{ec: ec("app", "1", "x", "2")}, deny, false},
	{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app","env"]}}`, req{}, allow, false},
	{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app","env"]}}`, req{ec: ec()}, allow, false},
	{`{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["app"]}}`, req{ec: ec("App", "1")}, deny, false},
	{`{"ForAllValues:StringEqualsIgnoreCase":{"kms:EncryptionContextKeys":["app"]}}`, req{ec: ec("App", "1")}, allow, false},
	{`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("app", "1", "x", "2")}, allow, false},
	{`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("x", "2")}, deny, false},
	{`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"app"}}`, req{}, deny, false},
	{`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec()}, deny, false},
	{`{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"app*"}}`, req{ec: ec("app1", "1", "app2", "2")}, allow, false},
	{`{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":"app*"}}`, req{ec: ec("app1", "1", "z", "2")}, deny, false},
	{`{"ForAnyValue:StringLike":{"kms:EncryptionContextKeys":"app*"}}`, req{ec: ec("app1", "1", "z", "2")}, allow, false},
	{`{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("app", "1")}, deny, false},
	{`{"ForAnyValue:StringNotEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("app", "1", "x", "2")}, allow, false},
	{`{"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"secret"}}`, req{ec: ec("app", "1")}, allow, false},
	{`{"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"secret"}}`, req{ec: ec("app", "1", "secret", "2")}, deny, false},
	{`{"ForAllValues:StringNotEquals":{"kms:EncryptionContextKeys":"secret"}}`, req{}, allow, false},
	{`{"ForAnyValue:StringLikeIfExists":{"kms:EncryptionContextKeys":"app*"}}`, req{}, allow, false},
	{`{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":"secret"}}`, req{ec: ec("app", "1", "secret", "2")}, explicit, true},
	{`{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, req{ctx: cx("kms:GrantOperations", "Decrypt")}, allow, false},
	{`{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}}`, req{ctx: cx("kms:GrantOperations", "Decrypt", "CreateGrant")}, deny, false},
	{`{"ForAnyValue:StringEquals":{"kms:ResourceAliases":"alias/pay"}}`, req{ctx: cx("kms:ResourceAliases", "alias/hr", "alias/pay")}, allow, false},
	{`{"ForAnyValue:NumericGreaterThan":{"kmsd:sizes":"100"}}`, req{ctx: cx("kmsd:sizes", "5", "500")}, allow, false},
	{`{"ForAllValues:NumericGreaterThan":{"kmsd:sizes":"100"}}`, req{ctx: cx("kmsd:sizes", "5", "500")}, deny, false},
	{`{"ForAnyValue:IpAddress":{"kmsd:hops":"10.0.0.0/8"}}`, req{ctx: cx("kmsd:hops", "192.0.2.1", "10.0.0.1")}, allow, false},
	// Unqualified operators on a multi-valued key.
	{`{"StringEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("app", "1", "x", "2")}, allow, false},
	{`{"StringNotEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("app", "1", "x", "2")}, deny, false},
	{`{"StringNotEquals":{"kms:EncryptionContextKeys":"app"}}`, req{ec: ec("x", "2")}, allow, false},
	// Policy variables in conditions.
	{`{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, req{ec: ec("owner", "alice")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, req{ec: ec("owner", "bob")}, deny, false},
	{`{"StringLike":{"kms:EncryptionContext:owner":"${aws:username}-*"}}`, req{ec: ec("owner", "alice-1")}, allow, false},
	{`{"StringEquals":{"kms:EncryptionContext:owner":"${aws:username}"}}`, req{who: "sess", ec: ec("owner", "")}, deny, false},
	{`{"ArnEquals":{"kms:GranteePrincipal":"${aws:PrincipalArn}"}}`, req{ctx: cx("kms:GranteePrincipal", alArn)}, allow, false},
	{`{"ArnEquals":{"kms:GranteePrincipal":"${aws:PrincipalArn}"}}`, req{ctx: cx("kms:GranteePrincipal", bobArn)}, deny, false},
}

func TestS1Conditions(t *testing.T) {
	for i, c := range condCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var s setup
			if c.onDeny {
				s = setup{key: enableIAM, ids: []string{idAllowAll + "," + stmt("Deny", "", `"kms:*"`, `"*"`, c.cond)}}
			} else {
				s = setup{key: enableIAM, ids: []string{stmt("Allow", "", `"kms:*"`, `"*"`, c.cond)}}
			}
			if c.want == "parse error" {
				if _, err := Parse([]byte(doc(s.ids[0])), IdentityPolicy); err == nil {
					t.Fatalf("%s: parsed", c.cond)
				}
				return
			}
			q := c.q
			if q.who == "" {
				q.who = "alice"
			}
			q.action = "kms:Encrypt"
			d := Evaluate(q.build(t), s.build(t))
			if got := outcome(d); got != c.want {
				t.Errorf("%s with %+v: got %s (%v), want %s", c.cond, c.q, got, d, c.want)
			}
		})
	}
}
