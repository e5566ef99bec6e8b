package iam

import (
	"strings"
	"testing"
	"time"
)

// Fixtures shared by the tests: one account, one key, a few principals.
const (
	acct    = "111122223333"
	other   = "444455556666"
	keyID   = "1234abcd-12ab-34cd-56ef-1234567890ab"
	keyARN  = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	key2ARN = "arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"
	rootArn = "arn:aws:iam::111122223333:root"
	alArn   = "arn:aws:iam::111122223333:user/alice"
	bobArn  = "arn:aws:iam::111122223333:user/bob"
	roleArn = "arn:aws:iam::111122223333:role/app"
	sessArn = "arn:aws:sts::111122223333:assumed-role/app/s1"
)

// enableIAM is the default key policy's statement.
const enableIAM = `{"Sid":"EnableIAM","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}`

func mustPrincipal(p Principal, err error) Principal {
	if err != nil {
		panic(err)
	}
	return p
}

// principals by short name.
var principals = map[string]Principal{
	"root":  mustPrincipal(RootPrincipal(acct)),
	"root2": mustPrincipal(RootPrincipal(other)),
	"alice": mustPrincipal(UserPrincipal(alArn, "AIDAALICE")),
	"bob":   mustPrincipal(UserPrincipal(bobArn, "AIDABOB")),
	"carol": mustPrincipal(UserPrincipal("arn:aws:iam::111122223333:user/team/carol", "AIDACAROL")),
	"eve":   mustPrincipal(UserPrincipal("arn:aws:iam::444455556666:user/eve", "AIDAEVE")),
	"sess":  mustPrincipal(RoleSessionPrincipal(roleArn, "AROAAPP", "s1")),
	"sess2": mustPrincipal(RoleSessionPrincipal(roleArn, "AROAAPP", "s2")),
	"ops":   mustPrincipal(RoleSessionPrincipal("arn:aws:iam::111122223333:role/ops/admin", "AROAOPS", "night")),
	"svc":   mustPrincipal(ServicePrincipal("logs.amazonaws.com")),
}

// doc wraps statements (a JSON object or comma-separated objects) into a
// 2012-10-17 document.
func doc(stmts ...string) string {
	return `{"Version":"2012-10-17","Statement":[` + strings.Join(stmts, ",") + `]}`
}

func parseT(t testing.TB, d string, kind Kind, name string) *Policy {
	t.Helper()
	p, err := Parse([]byte(d), kind)
	if err != nil {
		t.Fatalf("parse %s: %v\n%s", name, err, d)
	}
	p.Name = name
	return p
}

// setup describes a policy set by documents.
type setup struct {
	key      string   // key policy statements; "" for no key policy
	ids      []string // identity policies, each a list of statements
	session  string   // session policy statements
	grants   []Grant
	resource string // default keyARN
}

func (s setup) build(t testing.TB) *PolicySet {
	t.Helper()
	ps := &PolicySet{Grants: s.grants}
	if s.key != "" {
		ps.Resource = parseT(t, doc(s.key), KeyPolicy, "key")
	}
	for i, d := range s.ids {
		ps.Identity = append(ps.Identity, parseT(t, doc(d), IdentityPolicy, "id"+string(rune('0'+i))))
	}
	if s.session != "" {
		ps.Session = parseT(t, doc(s.session), IdentityPolicy, "session")
	}
	return ps
}

// req describes a request.
type req struct {
	who      string
	action   string
	resource string // default keyARN
	ctx      map[string][]string
	ec       map[string]string
	at       string // RFC 3339 request time
}

func (q req) build(t testing.TB) *Request {
	p, ok := principals[q.who]
	if !ok {
		t.Fatalf("unknown principal %q", q.who)
	}
	r := &Request{Principal: p, Action: q.action, Resource: q.resource}
	if r.Resource == "" {
		r.Resource = keyARN
	}
	if q.ec != nil {
		r.Context.SetEncryptionContext(q.ec)
	}
	for k, v := range q.ctx {
		r.Context.Set(k, v...)
	}
	if q.at != "" {
		tm, err := time.Parse(time.RFC3339, q.at)
		if err != nil {
			t.Fatal(err)
		}
		r.Time = tm
	}
	return r
}

// Expected outcomes.
const (
	allow    = "allow"
	deny     = "deny"     // default deny (any non-explicit reason)
	explicit = "explicit" // explicit deny
)

func outcome(d Decision) string {
	switch {
	case d.Allowed():
		return allow
	case d.Reason == ReasonExplicitDeny:
		return explicit
	}
	return deny
}

func stmt(effect, principal, action, resource, cond string) string {
	var b strings.Builder
	b.WriteString(`{"Effect":"` + effect + `"`)
	if principal != "" {
		b.WriteString(`,"Principal":` + principal)
	}
	b.WriteString(`,"Action":` + action)
	if resource != "" {
		b.WriteString(`,"Resource":` + resource)
	}
	if cond != "" {
		b.WriteString(`,"Condition":` + cond)
	}
	b.WriteString("}")
	return b.String()
}

func aws(arns ...string) string {
	return `{"AWS":["` + strings.Join(arns, `","`) + `"]}`
}
