package main

import (
	"strconv"
	"strings"
)

// --query takes a small subset of the AWS CLI's JMESPath: member names
// joined by dots, list indexes and list projections:
//
//	KeyMetadata.KeyId
//	Keys[0].KeyId   (Keys.0.KeyId works too)
//	Keys[].KeyId    (a list of every key's KeyId)
//
// A path that matches nothing yields null (None in text output), as AWS.

// step is one element of a query path.
type step struct {
	name    string // a member name, or
	index   int    // a list index (when isIndex), or
	isIndex bool
	project bool // every element of a list
}

func parseQuery(q string) ([]step, error) {
	if q == "" {
		return nil, usagef("--query is empty")
	}
	var steps []step
	for _, part := range strings.Split(q, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if rest != "" {
			rest = "[" + rest
		}
		switch n, err := strconv.Atoi(name); {
		case name == "" && rest == "":
			return nil, usagef("--query %q: empty member name", q)
		case err == nil && n >= 0:
			steps = append(steps, step{index: n, isIndex: true})
		case name != "":
			steps = append(steps, step{name: name})
		}
		for rest != "" {
			end := strings.IndexByte(rest, ']')
			if !strings.HasPrefix(rest, "[") || end < 0 {
				return nil, usagef("--query %q: bad brackets", q)
			}
			inner := rest[1:end]
			rest = rest[end+1:]
			if inner == "" {
				steps = append(steps, step{project: true})
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, usagef("--query %q: %q is not a list index", q, inner)
			}
			steps = append(steps, step{index: n, isIndex: true})
		}
	}
	return steps, nil
}

// evalQuery applies steps to v.
func evalQuery(v any, steps []step) any {
	for i, s := range steps {
		switch {
		case s.project:
			list, ok := v.([]any)
			if !ok {
				return nil
			}
			out := []any{}
			for _, e := range list {
				if r := evalQuery(e, steps[i+1:]); r != nil {
					out = append(out, r)
				}
			}
			return out
		case s.isIndex:
			list, ok := v.([]any)
			if !ok || s.index >= len(list) {
				return nil
			}
			v = list[s.index]
		default:
			obj, ok := v.(object)
			if !ok {
				return nil
			}
			v = obj.get(s.name)
		}
	}
	return v
}
