package iam

import (
	"net/netip"
	"strings"
)

// holds reports whether the condition is true for request r. The rules
// are in the package documentation under "Conditions".
func (c *condition) holds(r *Request) bool {
	v := lookup(r, c.key, c.derived)
	if c.kind == opNull {
		absent := v.n == 0
		for _, want := range c.bools {
			if want == absent {
				return true
			}
		}
		return false
	}
	if v.n == 0 {
		switch {
		case c.ifExists, c.set == setAll:
			return true
		case c.set == setAny:
			return false
		}
		return c.negate
	}
	switch c.set {
	case setAll:
		for i := 0; i < v.n; i++ {
			if c.matchAny(&v, i, r) == c.negate {
				return false
			}
		}
		return true
	case setAny:
		for i := 0; i < v.n; i++ {
			if c.matchAny(&v, i, r) != c.negate {
				return true
			}
		}
		return false
	}
	// Unqualified: a positive operator holds when some request value
	// matches some policy value; a negated one when none does.
	for i := 0; i < v.n; i++ {
		if c.matchAny(&v, i, r) {
			return !c.negate
		}
	}
	return c.negate
}

// matchAny reports whether request value i matches any of the policy
// values under the positive form of the operator.
func (c *condition) matchAny(v *values, i int, r *Request) bool {
	switch c.kind {
	case opString, opStringFold, opStringLike:
		s := v.text(i, c.derived)
		for k := range c.strs {
			if c.strs[k].match(s, r) {
				return true
			}
		}
	case opArn:
		s := v.text(i, c.derived)
		for k := range c.strs {
			if matchARN(&c.strs[k], s, r) {
				return true
			}
		}
	case opNumeric:
		f, ok := parseNumber(v.text(i, c.derived))
		if !ok {
			return false
		}
		for _, p := range c.nums {
			if compare(cmp3(f, p), c.cmp) {
				return true
			}
		}
	case opDate:
		t, ok := v.t, v.time
		if !ok {
			t, ok = parseDate(v.at(i))
		}
		if !ok {
			return false
		}
		for _, p := range c.times {
			if compare(t.Compare(p), c.cmp) {
				return true
			}
		}
	case opBool:
		b, ok := parseBool(v.text(i, c.derived))
		return ok && len(c.bools) > 0 && containsBool(c.bools, b)
	case opIP:
		a, err := netip.ParseAddr(v.at(i))
		if err != nil {
			return false
		}
		a = a.Unmap()
		for _, p := range c.nets {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

func containsBool(bs []bool, b bool) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

func cmp3(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func compare(c int, k cmpKind) bool {
	switch k {
	case cmpLt:
		return c < 0
	case cmpLe:
		return c <= 0
	case cmpGt:
		return c > 0
	case cmpGe:
		return c >= 0
	}
	return c == 0
}

// matchARN matches an ARN against an ArnEquals/ArnLike value: each of the
// six colon-separated parts is matched on its own, with wildcards that do
// not cross a colon (the resource part, the sixth, may hold colons). The
// value "*" matches every ARN.
func matchARN(p *pattern, s string, r *Request) bool {
	if !strings.HasPrefix(s, "arn:") {
		return false
	}
	text, escaped := p.text, false
	switch p.kind {
	case patAll:
		return true
	case patVars:
		var ok bool
		if text, ok = expandVars(*p.vars, true, r); !ok {
			return false
		}
		escaped = true
	}
	for range 5 {
		pp, prest, ok1 := strings.Cut(text, ":")
		sp, srest, ok2 := strings.Cut(s, ":")
		if !ok1 || !ok2 || !matchGlob(pp, sp, false, escaped) {
			return false
		}
		text, s = prest, srest
	}
	return matchGlob(text, s, false, escaped)
}
