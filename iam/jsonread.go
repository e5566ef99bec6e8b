package iam

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// reader reads a policy document token by token with encoding/json's
// Decoder, so that field names are matched exactly (encoding/json's struct
// decoding matches them case-insensitively and lets a duplicate field
// silently override an earlier one; a policy must never mean something
// other than what a reviewer reads).
type reader struct {
	dec *json.Decoder
}

func newReader(doc []byte) *reader {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return &reader{dec: dec}
}

func (r *reader) token(path string) (json.Token, error) {
	t, err := r.dec.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, invalidf(path, "malformed JSON: %v", err)
	}
	return t, nil
}

// object reads an object, calling field for each member with the decoder
// positioned at the member's value; field must consume the value.
// Duplicate member names are an error.
func (r *reader) object(path string, field func(name, path string) error) error {
	t, err := r.token(path)
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != '{' {
		return invalidf(path, "must be an object, not %s", describe(t))
	}
	return r.members(path, field)
}

// members reads the members of an object whose '{' has been read.
func (r *reader) members(path string, field func(name, path string) error) error {
	var seen []string
	for r.dec.More() {
		t, err := r.token(path)
		if err != nil {
			return err
		}
		name, _ := t.(string)
		if contains(seen, name) {
			return invalidf(path, "duplicate field %q", name)
		}
		seen = append(seen, name)
		if err := field(name, join(path, name)); err != nil {
			return err
		}
	}
	_, err := r.token(path) // '}'
	return err
}

// scalars reads a string, number or boolean, or a non-empty array of
// them, as strings. Numbers keep their JSON text.
func (r *reader) scalars(path string, allowNonString bool) ([]string, error) {
	t, err := r.token(path)
	if err != nil {
		return nil, err
	}
	if d, ok := t.(json.Delim); ok && d == '[' {
		var out []string
		for r.dec.More() {
			t, err := r.token(path)
			if err != nil {
				return nil, err
			}
			s, err := scalar(fmt.Sprintf("%s[%d]", path, len(out)), t, allowNonString)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		if _, err := r.token(path); err != nil {
			return nil, err
		}
		if len(out) == 0 {
			return nil, invalidf(path, "must not be an empty list")
		}
		return out, nil
	}
	s, err := scalar(path, t, allowNonString)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// str reads one string.
func (r *reader) str(path string) (string, error) {
	t, err := r.token(path)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", invalidf(path, "must be a string, not %s", describe(t))
	}
	return s, nil
}

func scalar(path string, t json.Token, allowNonString bool) (string, error) {
	switch v := t.(type) {
	case string:
		if v == "" {
			return "", invalidf(path, "must not be empty")
		}
		return v, nil
	case json.Number:
		if allowNonString {
			return v.String(), nil
		}
	case bool:
		if allowNonString {
			return strconv.FormatBool(v), nil
		}
	}
	if allowNonString {
		return "", invalidf(path, "must be a string, number or boolean, not %s", describe(t))
	}
	return "", invalidf(path, "must be a string, not %s", describe(t))
}

func describe(t json.Token) string {
	switch v := t.(type) {
	case json.Delim:
		if v == '{' {
			return "an object"
		}
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", t)
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
