package iam

import (
	"math/rand/v2"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The reference evaluator: a deliberately plain transcription of the rules
// in the package documentation, working on the generated statements (not
// on parsed policies), with regular expressions for wildcards.

var refRegexps sync.Map

func refGlob(pat, s string, fold bool) bool {
	key := pat
	if fold {
		key = "(?i)" + pat
	}
	re, ok := refRegexps.Load(key)
	if !ok {
		expr := regexp.QuoteMeta(pat)
		expr = strings.ReplaceAll(expr, `\*`, ".*")
		expr = strings.ReplaceAll(expr, `\?`, ".")
		expr = "^" + expr + "$"
		if fold {
			expr = "(?i)" + expr
		}
		re, _ = refRegexps.LoadOrStore(key, regexp.MustCompile(expr))
	}
	return re.(*regexp.Regexp).MatchString(s)
}

// refRelation says how a principal list names who: "none", "account",
// "direct" or "session".
func refRelation(list []string, who string) string {
	p := principals[who]
	if slices.Contains(list, "*") {
		return "direct"
	}
	if p.Type == PrincipalRoleSession && slices.Contains(list, p.ARN) {
		return "session"
	}
	if p.Type != PrincipalRoleSession && slices.Contains(list, p.ARN) {
		return "direct"
	}
	if p.Type == PrincipalRoleSession && slices.Contains(list, p.RoleARN) {
		return "direct"
	}
	namesAccount := slices.Contains(list, acct) || slices.Contains(list, rootArn)
	if namesAccount && p.Type == PrincipalRoot && p.Account == acct {
		return "direct"
	}
	if namesAccount && p.Type != PrincipalService && p.Account == acct {
		return "account"
	}
	return "none"
}

func (c *gCase) refValues(key string) []string {
	switch key {
	case "kms:EncryptionContext:app":
		if v, ok := c.ec["app"]; ok {
			return []string{v}
		}
		return nil
	case "kms:EncryptionContextKeys":
		var keys []string
		for k := range c.ec {
			keys = append(keys, k)
		}
		return keys
	case "kms:CallerAccount":
		if a := principals[c.who].Account; a != "" {
			return []string{a}
		}
		return nil
	}
	return c.ctx[key]
}

func refMatchOne(base, v, pv string) bool {
	switch base {
	case "StringEquals", "StringNotEquals":
		return v == pv
	case "StringLike":
		return refGlob(pv, v, false)
	case "IpAddress", "NotIpAddress":
		a, err := netip.ParseAddr(v)
		return err == nil && netip.MustParsePrefix(pv).Contains(a)
	case "Bool":
		return strings.EqualFold(v, pv)
	}
	panic("reference: unknown operator " + base)
}

func (c *gCase) refCond(k gCond) bool {
	vals := c.refValues(k.key)
	base := k.op
	forAll := strings.HasPrefix(base, "ForAllValues:")
	forAny := strings.HasPrefix(base, "ForAnyValue:")
	base = strings.TrimPrefix(strings.TrimPrefix(base, "ForAllValues:"), "ForAnyValue:")
	ifExists := strings.HasSuffix(base, "IfExists")
	base = strings.TrimSuffix(base, "IfExists")
	if base == "Null" {
		return slices.Contains(k.vals, "true") && len(vals) == 0 || slices.Contains(k.vals, "false") && len(vals) > 0
	}
	negated := base == "StringNotEquals" || base == "NotIpAddress"
	pos := func(v string) bool {
		for _, pv := range k.vals {
			if refMatchOne(base, v, pv) {
				return true
			}
		}
		return false
	}
	if len(vals) == 0 {
		return ifExists || forAll || (!forAny && negated)
	}
	n := 0
	for _, v := range vals {
		if pos(v) != negated {
			n++
		}
	}
	switch {
	case forAll:
		return n == len(vals)
	case forAny:
		return n > 0
	case negated:
		return n == len(vals)
	}
	return n > 0
}

// refApplies: does the statement apply, principal aside?
func (c *gCase) refApplies(s gStmt) bool {
	am := false
	for _, a := range s.actions {
		am = am || refGlob(a, c.action, true)
	}
	rm := false
	for _, r := range s.resources {
		rm = rm || refGlob(r, c.resource, false)
	}
	if am == s.notAction || s.resources != nil && rm == s.notRes {
		return false
	}
	for _, k := range s.conds {
		if !c.refCond(k) {
			return false
		}
	}
	return true
}

func (c *gCase) refStmtRelation(s gStmt) string {
	if s.principal == nil {
		return "direct"
	}
	rel := refRelation(s.principal, c.who)
	if s.notPrincipal {
		if rel == "none" {
			return "direct"
		}
		return "none"
	}
	return rel
}

func (c *gCase) refGrant(g Grant) string {
	p := principals[c.who]
	op, ok := strings.CutPrefix(c.action, "kms:")
	if !ok || !slices.Contains(g.Operations, op) {
		return "none"
	}
	if op != "DescribeKey" {
		if g.EncryptionContextEquals != nil && !mapsEqual(g.EncryptionContextEquals, c.ec) {
			return "none"
		}
		for k, v := range g.EncryptionContextSubset {
			if w, ok := c.ec[k]; !ok || w != v {
				return "none"
			}
		}
	}
	switch {
	case g.GranteePrincipal == p.ARN && p.Type == PrincipalRoleSession:
		return "session"
	case g.GranteePrincipal == p.ARN, p.Type == PrincipalRoleSession && g.GranteePrincipal == p.RoleARN:
		return "direct"
	}
	return "none"
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// reference decides the case by the documented rules.
func (c *gCase) reference() Effect {
	all := append([]gPolicy{c.key, c.session}, c.ids...)
	for _, p := range all {
		for _, s := range p {
			if !s.allow && c.refStmtRelation(s) != "none" && c.refApplies(s) {
				return Deny
			}
		}
	}
	needsKey := strings.HasPrefix(c.action, "kms:") && c.action != "kms:ListKeys"
	if needsKey && c.key == nil {
		return Deny
	}
	sessOK := c.session == nil
	for _, s := range c.session {
		sessOK = sessOK || s.allow && c.refApplies(s)
	}
	gate := false
	for _, s := range c.key {
		if !s.allow || !c.refApplies(s) {
			continue
		}
		switch c.refStmtRelation(s) {
		case "session":
			return Allow
		case "direct":
			if sessOK {
				return Allow
			}
		case "account":
			gate = true
		}
	}
	for _, g := range c.grants {
		switch c.refGrant(g) {
		case "session":
			return Allow
		case "direct":
			if sessOK {
				return Allow
			}
		}
	}
	idOK := false
	if c.who == "root" {
		idOK = c.key == nil
	} else {
		for _, p := range c.ids {
			for _, s := range p {
				idOK = idOK || s.allow && c.refApplies(s)
			}
		}
	}
	if idOK && (c.key == nil || gate) && sessOK {
		return Allow
	}
	return Deny
}

func TestPropertyAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, uint64(*iamCases)))
	allows := 0
	for i := range *iamCases {
		c := genCase(r)
		req, ps := c.build(t)
		got := Evaluate(req, ps)
		if got.Allowed() {
			allows++
		}
		if want := c.reference(); got.Effect != want {
			t.Fatalf("case %d: Evaluate %v, reference %v\nrequest: %s %s %s ec=%v ctx=%v\nkey: %s\nids: %v\nsession: %s\ngrants: %+v",
				i, got, want, c.who, c.action, c.resource, c.ec, c.ctx, jsonOrNone(c.key), idsJSON(c.ids), jsonOrNone(c.session), c.grants)
		}
		if i%5 == 0 {
			checkMonotone(t, r, c, got)
		}
	}
	t.Logf("%d cases, %d allowed", *iamCases, allows)
	if allows < *iamCases/20 || allows > *iamCases*19/20 {
		t.Errorf("the generator is lopsided: %d of %d allowed", allows, *iamCases)
	}
}

func jsonOrNone(p gPolicy) string {
	if p == nil {
		return "none"
	}
	return p.json()
}

func idsJSON(ps []gPolicy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.json())
	}
	return out
}

// policies returns pointers to the case's policies that exist.
func (c *gCase) policies() []*gPolicy {
	var out []*gPolicy
	if c.key != nil {
		out = append(out, &c.key)
	}
	if c.session != nil {
		out = append(out, &c.session)
	}
	for i := range c.ids {
		out = append(out, &c.ids[i])
	}
	return out
}

func (c gCase) clone() gCase {
	d := c
	d.key = slices.Clone(c.key)
	d.session = slices.Clone(c.session)
	d.ids = make([]gPolicy, len(c.ids))
	for i := range c.ids {
		d.ids[i] = slices.Clone(c.ids[i])
	}
	d.grants = slices.Clone(c.grants)
	return d
}

func evalCase(t *testing.T, c gCase) Decision {
	req, ps := c.build(t)
	return Evaluate(req, ps)
}

// checkMonotone: adding a Deny never allows, removing an Allow never
// allows, an unrelated statement changes nothing, and the order of
// statements, policies and grants changes nothing.
func checkMonotone(t *testing.T, r *rand.Rand, c gCase, before Decision) {
	t.Helper()
	if ps := c.policies(); len(ps) > 0 {
		d := c.clone()
		p := d.policies()[r.IntN(len(ps))]
		s := genStmt(r, (*p)[0].principal != nil)
		s.allow = false
		*p = append(*p, s)
		if after := evalCase(t, d); !before.Allowed() && after.Allowed() {
			t.Fatalf("adding a Deny allowed: %s", s.json())
		}
		d = c.clone()
		p = d.policies()[r.IntN(len(ps))]
		if i := slices.IndexFunc(*p, func(s gStmt) bool { return s.allow }); i >= 0 && len(*p) > 1 {
			removed := (*p)[i]
			*p = slices.Delete(*p, i, i+1)
			if after := evalCase(t, d); !before.Allowed() && after.Allowed() {
				t.Fatalf("removing an Allow allowed: %s", removed.json())
			}
		}
		d = c.clone()
		p = d.policies()[r.IntN(len(ps))]
		unrelated := gStmt{allow: r.IntN(2) == 0, actions: []string{"kms:ScheduleKeyDeletion"}, resources: []string{"*"}}
		if (*p)[0].principal != nil {
			unrelated.principal = []string{"*"}
		}
		*p = append(*p, unrelated)
		if after := evalCase(t, d); after.Effect != before.Effect {
			t.Fatalf("an unrelated statement changed %v to %v", before, after)
		}
	}
	d := c.clone()
	for _, p := range d.policies() {
		r.Shuffle(len(*p), func(i, j int) { (*p)[i], (*p)[j] = (*p)[j], (*p)[i] })
	}
	r.Shuffle(len(d.ids), func(i, j int) { d.ids[i], d.ids[j] = d.ids[j], d.ids[i] })
	r.Shuffle(len(d.grants), func(i, j int) { d.grants[i], d.grants[j] = d.grants[j], d.grants[i] })
	if after := evalCase(t, d); after.Effect != before.Effect {
		t.Fatalf("a permutation changed %v to %v", before, after)
	}
}
