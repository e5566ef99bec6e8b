package iam

import (
	"errors"
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
	r := newReader(p.doc)
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
	if err := r.end(); err != nil {
		return nil, err
	}
	if !haveStatement {
		return nil, invalidf("Statement", "missing")
	}
	vars := p.version == Version2012
	var sids []string
	p.statements = make([]statement, 0, len(stmts))
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
	fields                 uint16 // bit i: statementFields[i] is present
	sid, effect            string
	principal              *principalSet
	actions, resources     []string
	conds                  []rawCondition
	notAction, notResource bool
	notPrincipal           bool
}

// statementFields are the members a statement may have.
var statementFields = []string{"Sid", "Effect", "Principal", "NotPrincipal", "Action", "NotAction", "Resource", "NotResource", "Condition"}

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
	if t.kind == '[' {
		out = make([]rawStatement, 0, min(r.countList(), MaxStatements))
	}
	one := func(p string) error {
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
	switch t.kind {
	case '{':
		return out, one(path)
	case '[':
		for first := true; ; first = false {
			ok, err := r.more(path, ']', first)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			p := fmt.Sprintf("%s[%d]", path, len(out))
			if t, err := r.token(p); err != nil {
				return nil, err
			} else if t.kind != '{' {
				return nil, invalidf(p, "a statement must be an object")
			}
			if err := one(p); err != nil {
				return nil, err
			}
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
		if i := slices.Index(statementFields, name); i >= 0 {
			s.fields |= 1 << i
		}
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
			s.principal = new(principalSet)
			err = readPrincipal(r, path, s.principal)
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
	if t.kind == '"' {
		if t.text != "*" {
			return invalidf(path, "a string principal must be \"*\"; name others as {\"AWS\": ...}")
		}
		ps.any = true
		return nil
	}
	if t.kind != '{' {
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
	has := func(name string) bool { return s.fields&(1<<slices.Index(statementFields, name)) != 0 }
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
		out.principals, out.notPrincipal = s.principal, s.notPrincipal
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
	// Paths are built only for errors: a list may be long.
	at := func(base string, not bool, i int) string {
		if not {
			base = "Not" + base
		}
		return fmt.Sprintf("%s[%d]", join(s.path, base), i)
	}
	out.actions = make([]pattern, 0, len(s.actions))
	for i, a := range s.actions {
		p, err := compileAction(a, kind.services())
		if err != nil {
			return invalidf(at("Action", s.notAction, i), "%s", err)
		}
		out.actions = append(out.actions, p)
	}
	out.resources = make([]pattern, 0, len(s.resources))
	for i, res := range s.resources {
		if res != "*" && (!looksLikeARN(res) || !validPattern(res)) {
			return invalidf(at("Resource", s.notResource, i), "%q is not \"*\" or an ARN of printable ASCII without spaces", res)
		}
		p, err := newValuePattern("", res, true, false, vars)
		if err != nil {
			var pe *PolicyError
			errors.As(err, &pe)
			return invalidf(at("Resource", s.notResource, i), "%s", pe.Msg)
		}
		out.resources = append(out.resources, p)
	}
	if len(s.resources) == 0 {
		out.resources = nil
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
