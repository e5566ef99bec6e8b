package iam

import (
	"errors"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	const okStmt = `{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`
	cases := []struct {
		kind Kind
		doc  string
		want string // substring of the error
	}{
		{IdentityPolicy, `[]`, "must be an object"},
		{IdentityPolicy, `{"Version":"2012-10-17"}`, "Statement: missing"},
		{IdentityPolicy, `{"Version":"2012-10-18","Statement":` + okStmt + `}`, "Version"},
		{IdentityPolicy, `{"version":"2012-10-17","Statement":` + okStmt + `}`, "version: unknown field"},
		{IdentityPolicy, `{"Statement":` + okStmt + `,"Extra":1}`, "Extra: unknown field"},
		{IdentityPolicy, `{"Statement":` + okStmt + `,"Statement":` + okStmt + `}`, "duplicate field \"Statement\""},
		{IdentityPolicy, `{"Statement":[]}`, "at least one statement"},
		{IdentityPolicy, `{"Statement":"x"}`, "object or a list"},
		{IdentityPolicy, `{"Statement":[1]}`, "Statement[0]: a statement must be an object"},
		{IdentityPolicy, doc(`{"Effect":"allow","Action":"kms:Encrypt","Resource":"*"}`), `Statement[0].Effect: "allow" is not Allow or Deny`},
		{IdentityPolicy, doc(`{"Action":"kms:Encrypt","Resource":"*"}`), "Effect: missing"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Effect":"Deny","Action":"kms:Encrypt","Resource":"*"}`), "duplicate field \"Effect\""},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","NotAction":"kms:Decrypt","Resource":"*"}`), "both Action and NotAction"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Resource":"*"}`), "needs Action or NotAction"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt"}`), "needs Resource or NotResource"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":[],"Resource":"*"}`), "Action: must not be an empty list"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"","Resource":"*"}`), "must not be empty"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypts","Resource":"*"}`), `Action[0]: "kms:Encrypts" is not a kms action`},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:ReEncrypt","Resource":"*"}`), "is not a kms action"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}`), "unknown service"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"km*:Encrypt","Resource":"*"}`), "unknown service"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms: Encrypt","Resource":"*"}`), "letters and digits"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt ","Resource":"*"}`), "letters and digits"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Еncrypt","Resource":"*"}`), "letters and digits"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"Encrypt","Resource":"*"}`), "service:action"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":1,"Resource":"*"}`), "must be a string"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"key/1"}`), "Resource[0]"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"arn:aws:kms:us-east-1:1:key/ x"}`), "printable ASCII"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Principal":"*"}`), "must not name a principal"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Foo":"*"}`), "Foo: unknown field"},
		{IdentityPolicy, doc(`{"Sid":"a","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"},{"Sid":"a","Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`), `Statement[1].Sid: "a" is not unique`},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEqual":{"aws:username":"a"}}}`), `unknown condition operator "StringEqual"`},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"stringequals":{"aws:username":"a"}}}`), "unknown condition operator"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"NullIfExists":{"aws:username":"true"}}}`), "Null takes neither"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"Bool":{"aws:SecureTransport":"yes"}}}`), `Condition.Bool.aws:SecureTransport[0]: "yes" is not true or false`},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"DateLessThan":{"aws:CurrentTime":"tomorrow"}}}`), "is not a date"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}`), "not an IP address"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"NaN"}}}`), "not a number"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":"1e999"}}}`), "not a number"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"username":"a"}}}`), "not a condition key"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":[]}}}`), "must not be an empty list"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":null}}}`), "not null"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":{"a":"b"}}}}`), "not an object"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":"${aws:username"}}}`), "unterminated policy variable"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"aws:username":"${aws:username, 'x'}"}}}`), "default values are not supported"},
		{IdentityPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"ArnLike":{"aws:PrincipalArn":"user/*"}}}`), "is not an ARN"},
		{KeyPolicy, doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*"}`), "needs Principal or NotPrincipal"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":"*","NotPrincipal":"*","Action":"kms:Encrypt","Resource":"*"}`), "both Principal and NotPrincipal"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":"alice","Action":"kms:Encrypt","Resource":"*"}`), `a string principal must be "*"`},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/*"},"Action":"kms:Encrypt","Resource":"*"}`), "Principal.AWS[0]"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:Encrypt","Resource":"*"}`), "wildcards are not allowed"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"11112222333"},"Action":"kms:Encrypt","Resource":"*"}`), "Principal.AWS[0]"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/a/"},"Action":"kms:Encrypt","Resource":"*"}`), "Principal.AWS[0]"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/../root"},"Action":"kms:Encrypt","Resource":"*"}`), "Principal.AWS[0]"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:group/g"},"Action":"kms:Encrypt","Resource":"*"}`), "Principal.AWS[0]"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"Federated":"x"},"Action":"kms:Encrypt","Resource":"*"}`), "unsupported principal type"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{},"Action":"kms:Encrypt","Resource":"*"}`), "names no principal"},
		{KeyPolicy, doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"iam:CreateUser","Resource":"*"}`), "only kms actions"},
		{TrustPolicy, doc(`{"Effect":"Allow","Principal":"*","Action":"kms:Decrypt"}`), "only sts actions"},
		{TrustPolicy, doc(`{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole","Resource":"*"}`), "must not name a resource"},
		{IdentityPolicy, `{"Statement":` + okStmt + `} {}`, "data after"},
		{IdentityPolicy, `{"Statement":` + okStmt, "malformed JSON"},
		{IdentityPolicy, "{\"Statement\":" + okStmt + ",\"Id\":\"\xff\"}", "UTF-8"},
	}
	for i, c := range cases {
		_, err := Parse([]byte(c.doc), c.kind)
		var pe *PolicyError
		if err == nil || !errors.As(err, &pe) || !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%d: %s: got %v, want a *PolicyError unwrapping to ErrInvalidPolicy", i, c.doc, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d: %s:\n got %v\nwant it to contain %q", i, c.doc, err, c.want)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	docs := []struct {
		kind Kind
		doc  string
	}{
		{KeyPolicy, DefaultKeyPolicy(acct)},
		{IdentityPolicy, KeyAdministrator.Document},
		{IdentityPolicy, KeyUser.Document},
		{IdentityPolicy, Auditor.Document},
		{IdentityPolicy, `{"Statement":{"Effect":"Deny","NotAction":["kms:Decrypt","iam:*"],"NotResource":"arn:aws:kms:*:*:key/*"}}`},
		{TrustPolicy, `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["111122223333","arn:aws:iam::111122223333:user/team/carol"]},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":true}}}]}`},
		{KeyPolicy, `{"Id":"x","Statement":[{"Sid":"With spaces, as AWS consoles write","Effect":"Allow","Principal":{"Service":["logs.amazonaws.com"],"AWS":"*"},"Action":"kms:*","Resource":"*","Condition":{"ForAnyValue:StringLikeIfExists":{"kms:EncryptionContext:Département":["a*",1,true]}}}]}`},
	}
	for i, d := range docs {
		p, err := Parse([]byte(d.doc), d.kind)
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		if p.Document() != d.doc || p.Kind() != d.kind || p.Len() == 0 {
			t.Errorf("%d: accessors disagree with the document", i)
		}
	}
}

func TestPolicy2008HasNoVariables(t *testing.T) {
	p := MustParse(`{"Version":"2008-10-17","Statement":{"Effect":"Allow","Action":"iam:GetUser","Resource":"arn:aws:iam::111122223333:user/${aws:username}"}}`, IdentityPolicy)
	r := &Request{Principal: principals["alice"], Action: "iam:GetUser", Resource: alArn}
	if d := Evaluate(r, &PolicySet{Identity: []*Policy{p}}); d.Allowed() {
		t.Fatalf("2008-10-17 expanded a variable: %v", d)
	}
	r.Resource = "arn:aws:iam::111122223333:user/${aws:username}"
	if d := Evaluate(r, &PolicySet{Identity: []*Policy{p}}); !d.Allowed() {
		t.Fatalf("2008-10-17 literal text did not match: %v", d)
	}
}
