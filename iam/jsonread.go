package iam

import (
	"encoding/json"
	"fmt"
	"strings"
)

// reader is a small JSON reader for policy documents. It is hand-written,
// rather than encoding/json's, for two reasons. Field names must match
// exactly and must not repeat (encoding/json matches struct fields without
// regard to case and lets a duplicate silently override an earlier one: a
// policy must never mean something other than what a reviewer reads). And
// memory: strings without escapes are slices of the document, and nothing
// is boxed, so decoding allocates little more than the compiled policy.
//
// Callers read exactly the grammar they expect; anything else is an error
// naming the path and the byte offset.
type reader struct {
	s   string
	pos int
}

// tokKind is the kind of a token: '{', '[', '"' (string), '0' (number),
// 'b' (boolean), 'n' (null).
type tokKind byte

type token struct {
	kind tokKind
	text string // the string's value, the number's text, "true"/"false"
}

func newReader(doc string) *reader { return &reader{s: doc} }

func (r *reader) syntax(path, format string, args ...any) error {
	return invalidf(path, "malformed JSON at byte %d: %s", r.pos, fmt.Sprintf(format, args...))
}

func (r *reader) skipSpace() {
	for r.pos < len(r.s) {
		switch r.s[r.pos] {
		case ' ', '\t', '\n', '\r':
			r.pos++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (r *reader) peek() byte {
	r.skipSpace()
	if r.pos == len(r.s) {
		return 0
	}
	return r.s[r.pos]
}

// token reads one value token; for '{' and '[' only the opening is read.
func (r *reader) token(path string) (token, error) {
	switch c := r.peek(); {
	case c == '{' || c == '[':
		r.pos++
		return token{kind: tokKind(c)}, nil
	case c == '"':
		s, err := r.str(path)
		return token{kind: '"', text: s}, err
	case c == '-' || '0' <= c && c <= '9':
		return r.number(path)
	case strings.HasPrefix(r.s[r.pos:], "true"):
		r.pos += 4
		return token{kind: 'b', text: "true"}, nil
	case strings.HasPrefix(r.s[r.pos:], "false"):
		r.pos += 5
		return token{kind: 'b', text: "false"}, nil
	case strings.HasPrefix(r.s[r.pos:], "null"):
		r.pos += 4
		return token{kind: 'n'}, nil
	case c == 0:
		return token{}, r.syntax(path, "unexpected end of document")
	}
	return token{}, r.syntax(path, "unexpected %q", r.s[r.pos])
}

// str reads a string value.
func (r *reader) str(path string) (string, error) {
	if r.peek() != '"' {
		t, err := r.token(path)
		if err != nil {
			return "", err
		}
		return "", invalidf(path, "must be a string, not %s", describe(t))
	}
	start := r.pos
	escaped := false
	for r.pos++; r.pos < len(r.s); r.pos++ {
		switch c := r.s[r.pos]; {
		case c == '\\':
			escaped = true
			r.pos++
		case c == '"':
			r.pos++
			if !escaped {
				return r.s[start+1 : r.pos-1], nil
			}
			var s string
			if err := json.Unmarshal([]byte(r.s[start:r.pos]), &s); err != nil {
				return "", r.syntax(path, "bad string escape")
			}
			return s, nil
		case c < 0x20:
			return "", r.syntax(path, "control character in string")
		}
	}
	return "", r.syntax(path, "unterminated string")
}

// number reads a number in JSON's grammar and keeps its text.
func (r *reader) number(path string) (token, error) {
	start := r.pos
	digits := func() int {
		n := 0
		for r.pos < len(r.s) && '0' <= r.s[r.pos] && r.s[r.pos] <= '9' {
			r.pos++
			n++
		}
		return n
	}
	if r.s[r.pos] == '-' {
		r.pos++
	}
	intStart := r.pos
	if n := digits(); n == 0 || n > 1 && r.s[intStart] == '0' {
		return token{}, r.syntax(path, "bad number")
	}
	if r.pos < len(r.s) && r.s[r.pos] == '.' {
		r.pos++
		if digits() == 0 {
			return token{}, r.syntax(path, "bad number")
		}
	}
	if r.pos < len(r.s) && (r.s[r.pos] == 'e' || r.s[r.pos] == 'E') {
		r.pos++
		if r.pos < len(r.s) && (r.s[r.pos] == '+' || r.s[r.pos] == '-') {
			r.pos++
		}
		if digits() == 0 {
			return token{}, r.syntax(path, "bad number")
		}
	}
	return token{kind: '0', text: r.s[start:r.pos]}, nil
}

// more reports whether another element follows in the list or object
// whose opening was read (closing with close), and consumes the comma
// before it or the closing.
func (r *reader) more(path string, close byte, first bool) (bool, error) {
	c := r.peek()
	if c == close {
		r.pos++
		return false, nil
	}
	if !first {
		if c != ',' {
			return false, r.syntax(path, "expected ',' or %q", close)
		}
		r.pos++
		if c = r.peek(); c == close {
			return false, r.syntax(path, "trailing comma")
		}
	}
	return true, nil
}

// object reads an object, calling field for each member with the reader
// at the member's value; field must consume the value. Duplicate member
// names are an error.
func (r *reader) object(path string, field func(name, path string) error) error {
	t, err := r.token(path)
	if err != nil {
		return err
	}
	if t.kind != '{' {
		return invalidf(path, "must be an object, not %s", describe(t))
	}
	return r.members(path, field)
}

// members reads the members of an object whose '{' has been read.
func (r *reader) members(path string, field func(name, path string) error) error {
	var names [12]string
	seen := names[:0]
	for first := true; ; first = false {
		ok, err := r.more(path, '}', first)
		if err != nil || !ok {
			return err
		}
		if r.peek() != '"' {
			return r.syntax(path, "expected a field name")
		}
		name, err := r.str(path)
		if err != nil {
			return err
		}
		if contains(seen, name) {
			return invalidf(path, "duplicate field %q", name)
		}
		seen = append(seen, name)
		if r.peek() != ':' {
			return r.syntax(path, "expected ':'")
		}
		r.pos++
		if err := field(name, join(path, name)); err != nil {
			return err
		}
	}
}

// scalars reads a string (or, with allowNonString, a number or boolean),
// or a non-empty list of them, as strings. Numbers keep their JSON text.
func (r *reader) scalars(path string, allowNonString bool) ([]string, error) {
	t, err := r.token(path)
	if err != nil {
		return nil, err
	}
	if t.kind != '[' {
		s, err := scalar(path, -1, t, allowNonString)
		if err != nil {
			return nil, err
		}
		return []string{s}, nil
	}
	out := make([]string, 0, r.countList())
	for first := true; ; first = false {
		ok, err := r.more(path, ']', first)
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		t, err := r.token(path)
		if err != nil {
			return nil, err
		}
		s, err := scalar(path, len(out), t, allowNonString)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, invalidf(path, "must not be an empty list")
	}
	return out, nil
}

// countList returns an upper bound of the number of elements of the list
// whose '[' has been read, so that it is allocated once: the commas at the
// list's own level before its ']', plus one.
func (r *reader) countList() int {
	n, depth := 1, 0
	for i := r.pos; i < len(r.s); i++ {
		switch r.s[i] {
		case ',':
			if depth == 0 {
				n++
			}
		case '[', '{':
			depth++
		case ']', '}':
			if depth == 0 {
				return n
			}
			depth--
		case '"':
			for i++; i < len(r.s) && r.s[i] != '"'; i++ {
				if r.s[i] == '\\' {
					i++
				}
			}
		}
	}
	return n
}

// end checks that only white space follows the document.
func (r *reader) end() error {
	if r.peek() != 0 {
		return invalidf("", "data after the policy object")
	}
	return nil
}

// scalar converts a list element (index i, or -1 for a lone value); the
// path is built only for an error.
func scalar(path string, i int, t token, allowNonString bool) (string, error) {
	at := func() string {
		if i < 0 {
			return path
		}
		return fmt.Sprintf("%s[%d]", path, i)
	}
	switch {
	case t.kind == '"' && t.text == "":
		return "", invalidf(at(), "must not be empty")
	case t.kind == '"', allowNonString && (t.kind == '0' || t.kind == 'b'):
		return t.text, nil
	case allowNonString:
		return "", invalidf(at(), "must be a string, number or boolean, not %s", describe(t))
	}
	return "", invalidf(at(), "must be a string, not %s", describe(t))
}

func describe(t token) string {
	switch t.kind {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case 'b':
		return "a boolean"
	}
	return "null"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
