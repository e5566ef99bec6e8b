package iam

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// Test-plan row S2: random (policy set, request) pairs against a
// separately written, deliberately simple reference evaluator, plus
// monotonicity and permutation invariance.

var iamCases = flag.Int("iam-cases", 20000, "number of random cases in TestPropertyAgainstReference")

// gCond is one condition of a generated statement.
type gCond struct {
	op, key string
	vals    []string
}

// gStmt is a generated statement; principal is "" in identity policies.
type gStmt struct {
	allow                           bool
	principal                       []string // "*" or ARNs / account ids
	notPrincipal, notAction, notRes bool
	actions, resources              []string
	conds                           []gCond
}

type gPolicy []gStmt

type gCase struct {
	key      gPolicy // nil: none
	ids      []gPolicy
	session  gPolicy // nil: none
	grants   []Grant
	who      string
	action   string
	resource string
	ec       map[string]string
	ctx      map[string][]string
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ",") + "]"
}

func (s gStmt) json() string {
	var b strings.Builder
	b.WriteString(`{"Effect":`)
	b.WriteString(map[bool]string{true: `"Allow"`, false: `"Deny"`}[s.allow])
	if s.principal != nil {
		name := map[bool]string{true: "NotPrincipal", false: "Principal"}[s.notPrincipal]
		fmt.Fprintf(&b, `,%q:{"AWS":%s}`, name, quoteList(s.principal))
	}
	fmt.Fprintf(&b, `,%q:%s`, map[bool]string{true: "NotAction", false: "Action"}[s.notAction], quoteList(s.actions))
	if s.resources != nil {
		fmt.Fprintf(&b, `,%q:%s`, map[bool]string{true: "NotResource", false: "Resource"}[s.notRes], quoteList(s.resources))
	}
	if len(s.conds) > 0 {
		byOp := map[string][]string{}
		var ops []string
		for _, c := range s.conds {
			if _, ok := byOp[c.op]; !ok {
				ops = append(ops, c.op)
			}
			byOp[c.op] = append(byOp[c.op], fmt.Sprintf("%q:%s", c.key, quoteList(c.vals)))
		}
		b.WriteString(`,"Condition":{`)
		for i, op := range ops {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "%q:{%s}", op, strings.Join(byOp[op], ","))
		}
		b.WriteString("}")
	}
	b.WriteString("}")
	return b.String()
}

func (p gPolicy) json() string {
	parts := make([]string, len(p))
	for i, s := range p {
		parts[i] = s.json()
	}
	return doc(parts...)
}

// ---- generation ----

func pick[T any](r *rand.Rand, xs ...T) T { return xs[r.IntN(len(xs))] }

var (
	genPrincipals = []string{"*", rootArn, acct, alArn, bobArn, roleArn, sessArn}
	genActions    = []string{"kms:*", "*", "kms:Encrypt", "kms:Decrypt", "kms:*crypt", "kms:Describe*", "kms:ListKeys", "iam:*", "iam:GetUser", "kms:GenerateDataKey?"}
	genResources  = []string{"*", keyARN, key2ARN, "arn:aws:kms:*:111122223333:key/*", "arn:aws:iam::111122223333:user/*"}
	genRequests   = [][2]string{{"kms:Encrypt", keyARN}, {"kms:Decrypt", keyARN}, {"kms:Decrypt", key2ARN}, {"kms:DescribeKey", keyARN}, {"kms:ListKeys", "*"}, {"iam:GetUser", alArn}, {"kms:GenerateDataKeyWithoutPlaintext", keyARN}}
)

func genCond(r *rand.Rand) gCond {
	switch r.IntN(10) {
	case 0:
		return gCond{"StringEquals", "kms:EncryptionContext:app", []string{pick(r, "pay", "hr")}}
	case 1:
		return gCond{"StringNotEquals", "kms:EncryptionContext:app", []string{pick(r, "pay", "hr")}}
	case 2:
		return gCond{"StringLike", "kms:EncryptionContext:app", []string{pick(r, "p*", "?r", "*")}}
	case 3:
		return gCond{"IpAddress", "aws:SourceIp", []string{pick(r, "10.0.0.0/8", "192.0.2.0/24")}}
	case 4:
		return gCond{"NotIpAddress", "aws:SourceIp", []string{"10.0.0.0/8"}}
	case 5:
		return gCond{"Bool", "aws:MultiFactorAuthPresent", []string{pick(r, "true", "false")}}
	case 6:
		return gCond{"Null", pick(r, "aws:MultiFactorAuthPresent", "kms:EncryptionContext:app"), []string{pick(r, "true", "false")}}
	case 7:
		return gCond{"ForAllValues:StringEquals", "kms:EncryptionContextKeys", []string{"app", "env"}}
	case 8:
		return gCond{"ForAnyValue:StringEquals", "kms:EncryptionContextKeys", []string{pick(r, "app", "env")}}
	}
	return gCond{"StringEqualsIfExists", "kms:CallerAccount", []string{pick(r, acct, other)}}
}

func genStmt(r *rand.Rand, resourcePolicy bool) gStmt {
	s := gStmt{allow: r.IntN(3) > 0, notAction: r.IntN(8) == 0, notRes: r.IntN(8) == 0}
	if resourcePolicy {
		s.notPrincipal = r.IntN(8) == 0
		s.principal = []string{pick(r, genPrincipals...)}
		if r.IntN(4) == 0 {
			s.principal = append(s.principal, pick(r, genPrincipals...))
		}
		if s.principal[0] == "*" && len(s.principal) > 1 {
			s.principal = s.principal[1:]
		}
	}
	s.actions = []string{pick(r, genActions...)}
	if r.IntN(3) == 0 {
		s.actions = append(s.actions, pick(r, genActions...))
	}
	if resourcePolicy {
		for i, a := range s.actions {
			if !strings.HasPrefix(a, "kms:") {
				s.actions[i] = "kms:*"
			}
		}
	}
	s.resources = []string{pick(r, genResources...)}
	for range r.IntN(3) {
		k := genCond(r)
		if !slices.ContainsFunc(s.conds, func(o gCond) bool { return o.op == k.op && o.key == k.key }) {
			s.conds = append(s.conds, k)
		}
	}
	return s
}

func genPolicy(r *rand.Rand, resourcePolicy bool) gPolicy {
	p := make(gPolicy, 1+r.IntN(3))
	for i := range p {
		p[i] = genStmt(r, resourcePolicy)
	}
	return p
}

func genCase(r *rand.Rand) gCase {
	c := gCase{who: pick(r, "root", "alice", "bob", "sess", "sess2", "svc")}
	rq := pick(r, genRequests...)
	c.action, c.resource = rq[0], rq[1]
	if r.IntN(10) > 0 {
		c.key = genPolicy(r, true)
		if r.IntN(3) == 0 {
			c.key = append(c.key, gStmt{allow: true, principal: []string{rootArn}, actions: []string{"kms:*"}, resources: []string{"*"}})
		}
	}
	for range r.IntN(3) {
		c.ids = append(c.ids, genPolicy(r, false))
	}
	if strings.HasPrefix(c.who, "sess") && r.IntN(3) == 0 {
		c.session = genPolicy(r, false)
	}
	for range r.IntN(3) {
		gr := Grant{ID: fmt.Sprint("g", r.IntN(100)), GranteePrincipal: pick(r, alArn, roleArn, sessArn, rootArn), Operations: []string{pick(r, "Encrypt", "Decrypt", "DescribeKey")}}
		switch r.IntN(3) {
		case 0:
			gr.EncryptionContextSubset = map[string]string{"app": pick(r, "pay", "hr")}
		case 1:
			gr.EncryptionContextEquals = map[string]string{"app": "pay"}
		}
		c.grants = append(c.grants, gr)
	}
	if r.IntN(2) == 0 {
		c.ec = map[string]string{"app": pick(r, "pay", "hr")}
		if r.IntN(3) == 0 {
			c.ec["env"] = "prod"
		}
	} else if r.IntN(3) == 0 {
		c.ec = map[string]string{"x": "1"}
	}
	c.ctx = map[string][]string{}
	if r.IntN(2) == 0 {
		c.ctx["aws:SourceIp"] = []string{pick(r, "10.1.2.3", "192.0.2.9", "203.0.113.1")}
	}
	if r.IntN(2) == 0 {
		c.ctx["aws:MultiFactorAuthPresent"] = []string{pick(r, "true", "false")}
	}
	return c
}

// build parses the generated policies and builds the request.
func (c gCase) build(t testing.TB) (*Request, *PolicySet) {
	ps := &PolicySet{Grants: c.grants}
	if c.key != nil {
		ps.Resource = parseT(t, c.key.json(), KeyPolicy, "key")
	}
	for _, p := range c.ids {
		ps.Identity = append(ps.Identity, parseT(t, p.json(), IdentityPolicy, "id"))
	}
	if c.session != nil {
		ps.Session = parseT(t, c.session.json(), IdentityPolicy, "session")
	}
	q := req{who: c.who, action: c.action, resource: c.resource, ctx: c.ctx, ec: c.ec}
	return q.build(t), ps
}
