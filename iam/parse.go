package iam

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Parse checks a policy document of the given kind and compiles it for
// Evaluate. Every error is a *PolicyError naming the element at fault; it
// unwraps to ErrPolicyLimit when a limit is exceeded (checked before
// decoding) and to ErrInvalidPolicy otherwise.
func Parse(doc []byte, kind Kind) (*Policy, error) {
	if kind < IdentityPolicy || kind > TrustPolicy {
		panic("iam: Parse with unknown Kind")
	}
	if err := prescan(doc); err != nil {
		return nil, err
	}
	if !utf8.Valid(doc) {
		return nil, invalidf("", "document is not valid UTF-8")
	}
	p := &Policy{kind: kind, version: Version2008, doc: string(doc)}
	r := newReader(doc)
	var stmts []rawStatement
	var haveStatement bool
	err := r.object("", func(name, path string) error {
		var err error
		switch name {
		case "Version":
			if p.version, err = r.str(path); err == nil && p.version != Version2012 && p.version != Version2008 {
				err = invalidf(path, "%q is not %q or %q", p.version, Version2012, Version2008)
			}
		case "Id":
			p.id, err = r.str(path)
		case "Statement":
			haveStatement = true
			stmts, err = readStatements(r, path)
		default:
			err = invalidf(path, "unknown field (a policy has Version, Id and Statement)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := r.dec.Token(); err == nil {
		return nil, invalidf("", "data after the policy object")
	}
	if !haveStatement {
		return nil, invalidf("Statement", "missing")
	}
	vars := p.version == Version2012
	var sids []string
	for i := range stmts {
		if sid := stmts[i].sid; sid != "" {
			if contains(sids, sid) {
				return nil, invalidf(join(stmts[i].path, "Sid"), "%q is not unique", sid)
			}
			sids = append(sids, sid)
		}
		s, err := stmts[i].compile(kind, vars)
		if err != nil {
			return nil, err
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

// MustParse is Parse for documents known to be valid, such as constants; it
// panics on error.
func MustParse(doc string, kind Kind) *Policy {
	p, err := Parse([]byte(doc), kind)
	if err != nil {
		panic(err)
	}
	return p
}

// rawStatement is a statement as read, before its elements are compiled.
type rawStatement struct {
	path                   string
	index                  int
	fields                 []string
	sid, effect            string
	principal              principalSet
	actions, resources     []string
	conds                  []rawCondition
	notAction, notResource bool
	notPrincipal           bool
}

type rawCondition struct {
	path, op, key string
	values        []string
}

func readStatements(r *reader, path string) ([]rawStatement, error) {
	t, err := r.token(path)
	if err != nil {
		return nil, err
	}
	var out []rawStatement
	one := func(d json.Delim, p string) error {
		if d != '{' {
			return invalidf(p, "a statement must be an object")
		}
		if len(out) == MaxStatements {
			return limitf(path, "more than %d statements", MaxStatements)
		}
		s := rawStatement{path: p, index: len(out)}
		if err := r.members(p, s.field(r)); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	}
	switch d, _ := t.(json.Delim); d {
	case '{':
		return out, one(d, path)
	case '[':
		for r.dec.More() {
			t, err := r.token(path)
			if err != nil {
				return nil, err
			}
			d, _ := t.(json.Delim)
			if err := one(d, fmt.Sprintf("%s[%d]", path, len(out))); err != nil {
				return nil, err
			}
		}
		if _, err := r.token(path); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, invalidf(path, "must hold at least one statement")
		}
		return out, nil
	}
	return nil, invalidf(path, "must be an object or a list of objects, not %s", describe(t))
}

// field returns the member reader of a statement.
func (s *rawStatement) field(r *reader) func(name, path string) error {
	return func(name, path string) error {
		s.fields = append(s.fields, name)
		var err error
		switch name {
		case "Sid":
			s.sid, err = r.str(path)
		case "Effect":
			s.effect, err = r.str(path)
		case "Action", "NotAction":
			s.notAction = name == "NotAction"
			s.actions, err = r.scalars(path, false)
		case "Resource", "NotResource":
			s.notResource = name == "NotResource"
			s.resources, err = r.scalars(path, false)
		case "Principal", "NotPrincipal":
			s.notPrincipal = name == "NotPrincipal"
			err = readPrincipal(r, path, &s.principal)
		case "Condition":
			err = r.object(path, func(op, opPath string) error {
				return r.object(opPath, func(key, keyPath string) error {
					vals, err := r.scalars(keyPath, true)
					s.conds = append(s.conds, rawCondition{keyPath, op, key, vals})
					return err
				})
			})
		default:
			err = invalidf(path, "unknown field (a statement has Sid, Effect, Principal, NotPrincipal, Action, NotAction, Resource, NotResource and Condition)")
		}
		return err
	}
}

func readPrincipal(r *reader, path string, ps *principalSet) error {
	t, err := r.token(path)
	if err != nil {
		return err
	}
	if s, ok := t.(string); ok {
		if s != "*" {
			return invalidf(path, "a string principal must be \"*\"; name others as {\"AWS\": ...}")
		}
		ps.any = true
		return nil
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return invalidf(path, "must be \"*\" or an object, not %s", describe(t))
	}
	n := 0
	err = r.members(path, func(name, p string) error {
		vals, err := r.scalars(p, false)
		if err != nil {
			return err
		}
		for i, v := range vals {
			vp := fmt.Sprintf("%s[%d]", p, i)
			switch name {
			case "AWS":
				err = ps.addAWS(vp, v)
			case "Service":
				err = ps.addService(vp, v)
			default:
				err = invalidf(p, "unsupported principal type (kmsd supports AWS and Service)")
			}
			if err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil && n == 0 {
		err = invalidf(path, "names no principal")
	}
	return err
}

// compile checks the statement's elements against the policy kind.
func (s *rawStatement) compile(kind Kind, vars bool) (statement, error) {
	has := func(name string) bool { return slices.Contains(s.fields, name) }
	both := func(a, b string) error {
		switch {
		case has(a) && has(b):
			return invalidf(s.path, "has both %s and %s", a, b)
		case !has(a) && !has(b):
			return invalidf(s.path, "needs %s or %s", a, b)
		}
		return nil
	}
	out := statement{sid: s.sid, index: s.index, notAction: s.notAction, notResource: s.notResource}
	switch s.effect {
	case "Allow":
		out.effect = Allow
	case "Deny":
		out.effect = Deny
	case "":
		return out, invalidf(join(s.path, "Effect"), "missing (Allow or Deny)")
	default:
		return out, invalidf(join(s.path, "Effect"), "%q is not Allow or Deny", s.effect)
	}
	if err := both("Action", "NotAction"); err != nil {
		return out, err
	}
	if kind == IdentityPolicy {
		if has("Principal") || has("NotPrincipal") {
			return out, invalidf(s.path, "an identity policy must not name a principal")
		}
	} else {
		if err := both("Principal", "NotPrincipal"); err != nil {
			return out, err
		}
		ps := s.principal
		out.principals, out.notPrincipal = &ps, s.notPrincipal
	}
	if kind == TrustPolicy {
		if has("Resource") || has("NotResource") {
			return out, invalidf(s.path, "a trust policy must not name a resource")
		}
	} else if err := both("Resource", "NotResource"); err != nil {
		return out, err
	}
	if err := s.compileLists(&out, kind, vars); err != nil {
		return out, err
	}
	return out, nil
}

func (s *rawStatement) compileLists(out *statement, kind Kind, vars bool) error {
	name := func(base string, not bool) string {
		if not {
			base = "Not" + base
		}
		return join(s.path, base)
	}
	for i, a := range s.actions {
		p, err := compileAction(fmt.Sprintf("%s[%d]", name("Action", s.notAction), i), a, kind.services())
		if err != nil {
			return err
		}
		out.actions = append(out.actions, p)
	}
	for i, res := range s.resources {
		path := fmt.Sprintf("%s[%d]", name("Resource", s.notResource), i)
		if res != "*" && (!looksLikeARN(res) || !validPattern(res)) {
			return invalidf(path, "%q is not \"*\" or an ARN of printable ASCII without spaces", res)
		}
		p, err := newValuePattern(path, res, true, false, vars)
		if err != nil {
			return err
		}
		out.resources = append(out.resources, p)
	}
	for _, c := range s.conds {
		info, set, ifExists, err := parseOperator(c.path, c.op)
		if err != nil {
			return err
		}
		cond, err := compileCondition(c.path, info, set, ifExists, c.key, c.values, vars)
		if err != nil {
			return err
		}
		out.conds = append(out.conds, cond)
	}
	return nil
}

// validPattern accepts printable ASCII without spaces.
func validPattern(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f })
}
