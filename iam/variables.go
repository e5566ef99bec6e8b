package iam

import "strings"

// varPart is one piece of a value holding policy variables: literal text,
// or a ${key} to be replaced by the request's single value of key.
type varPart struct {
	lit     string
	key     string // canonical; empty for literal text
	derived derivedKey
}

// parseVars splits s at its policy variables. It returns nil when s has
// none. ${*}, ${?} and ${$} stand for the literal characters; default
// values (${key, 'default'}) are not supported.
func parseVars(path, s string) ([]varPart, error) {
	if !strings.Contains(s, "${") {
		return nil, nil
	}
	var parts []varPart
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			break
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return nil, invalidf(path, "unterminated policy variable in %q", s)
		}
		if i > 0 {
			parts = append(parts, varPart{lit: s[:i]})
		}
		name := s[i+2 : i+end]
		switch {
		case name == "*" || name == "?" || name == "$":
			parts = append(parts, varPart{lit: "\\" + name})
		case strings.ContainsAny(name, ",'"):
			return nil, invalidf(path, "policy variable ${%s}: default values are not supported", name)
		default:
			key, ok := canonicalKey(name)
			if !ok {
				return nil, invalidf(path, "policy variable ${%s} is not a condition key", name)
			}
			parts = append(parts, varPart{key: key, derived: derivedKeys[key]})
		}
		s = s[i+end+1:]
	}
	if s != "" {
		parts = append(parts, varPart{lit: s})
	}
	return parts, nil
}

// expandVars builds the glob (with '\' escapes) a value with variables
// stands for in request r. Substituted values are always literal, never
// wildcards. It reports false when a variable's key does not have exactly
// one value: such a value matches nothing.
func expandVars(parts []varPart, glob bool, r *Request) (string, bool) {
	var b strings.Builder
	for _, p := range parts {
		if p.key == "" {
			if strings.HasPrefix(p.lit, "\\") && len(p.lit) == 2 {
				b.WriteString(p.lit) // ${*} ${?} ${$}
				continue
			}
			escape(&b, p.lit, !glob)
			continue
		}
		v := lookup(r, p.key, p.derived)
		if v.n != 1 {
			return "", false
		}
		escape(&b, v.text(0, p.derived), true)
	}
	return b.String(), true
}

// escape writes s with '\' before every '\' and, when wild, every '*' and
// '?'.
func escape(b *strings.Builder, s string, wild bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' || wild && (c == '*' || c == '?') {
			b.WriteByte('\\')
		}
		b.WriteByte(c)
	}
}

// newValuePattern compiles a Resource or condition string that may hold
// policy variables (vars enables them: Version 2012-10-17 only).
func newValuePattern(path, text string, glob, fold, vars bool) (pattern, error) {
	if vars && strings.Contains(text, "${") {
		parts, err := parseVars(path, text)
		if err != nil {
			return pattern{}, err
		}
		return pattern{text: text, kind: patVars, fold: fold, glob: glob, vars: &parts}, nil
	}
	return newPattern(text, glob, fold), nil
}
