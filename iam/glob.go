package iam

import (
	"strings"
	"unicode/utf8"
)

// matchGlob reports whether s matches pattern p, in which '*' matches any
// run of characters (including none) and '?' exactly one character. With
// fold, ASCII letters compare without regard to case (only ASCII: no Unicode
// folding, so no confusable such as the Kelvin sign ever matches 'k'). With
// escaped, a '\' in p makes the next byte literal; policy variables use it
// so that a substituted value is never read as a wildcard.
//
// The algorithm backtracks only to the last '*', so it runs in
// O(len(p)·len(s)) time and allocates nothing.
func matchGlob(p, s string, fold, escaped bool) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		if pi < len(p) {
			c := p[pi]
			switch {
			case c == '*':
				star, mark = pi, si
				pi++
				continue
			case c == '?':
				_, n := utf8.DecodeRuneInString(s[si:])
				pi++
				si += n
				continue
			case c == '\\' && escaped && pi+1 < len(p):
				if eqByte(p[pi+1], s[si], fold) {
					pi += 2
					si++
					continue
				}
			case eqByte(c, s[si], fold):
				pi++
				si++
				continue
			}
		}
		if star < 0 {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[mark:])
		mark += n
		pi, si = star+1, mark
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

func eqByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	return fold && lowerASCII(a) == lowerASCII(b) && isASCIILetter(a)
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func isASCIILetter(c byte) bool {
	c = lowerASCII(c)
	return 'a' <= c && c <= 'z'
}

// equalFoldASCII is strings.EqualFold restricted to ASCII letters.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if !eqByte(a[i], b[i], true) {
			return false
		}
	}
	return true
}

// toLowerASCII lowers ASCII letters only.
func toLowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				b[j] = lowerASCII(b[j])
			}
			return string(b)
		}
	}
	return s
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?") }

// pattern is a compiled string pattern of an Action, Resource or condition
// value: a literal, the match-everything "*", or a glob; fold makes it
// ASCII case-insensitive. Patterns holding policy variables keep their
// parts in vars and are expanded per request (see variables.go).
type pattern struct {
	text string
	kind patternKind
	fold bool
	glob bool
	vars *[]varPart
}

type patternKind uint8

const (
	patLiteral patternKind = iota
	patAll
	patGlob
	patVars
)

func newPattern(text string, glob, fold bool) pattern {
	switch {
	case glob && text == "*":
		return pattern{text: text, kind: patAll}
	case glob && hasWildcard(text):
		return pattern{text: text, kind: patGlob, fold: fold}
	}
	return pattern{text: text, kind: patLiteral, fold: fold}
}

// match reports whether s matches the pattern; lookup resolves policy
// variables (it is only called for patterns that have them).
func (p *pattern) match(s string, r *Request) bool {
	switch p.kind {
	case patAll:
		return true
	case patLiteral:
		if p.fold {
			return equalFoldASCII(p.text, s)
		}
		return p.text == s
	case patGlob:
		return matchGlob(p.text, s, p.fold, false)
	}
	expanded, ok := expandVars(*p.vars, p.glob, r)
	if !ok {
		return false
	}
	return matchGlob(expanded, s, p.fold, true)
}
