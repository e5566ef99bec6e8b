package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// maxInputBytes bounds what kmsctl reads from a file or standard input for
// one parameter.
const maxInputBytes = 1 << 20

// parsedArgs holds a command's flag values by kind.
type parsedArgs struct {
	strings  map[string]string
	ints     map[string]int32
	bools    map[string]bool
	blobs    map[string][]byte
	contexts map[string]map[string]string
	tags     map[string][]*kmsv1.Tag
	lists    map[string][]string
	set      map[string]bool
}

func lookupFlag(cmd *command, name string) (flagSpec, bool) {
	for _, list := range [][]flagSpec{cmd.flags, globalFlags} {
		for _, f := range list {
			if f.name == name {
				return f, true
			}
		}
	}
	return flagSpec{}, false
}

// parseArgs parses args (global and command flags in any order) for cmd.
func parseArgs(cmd *command, args []string, stdin io.Reader) (*parsedArgs, error) {
	pa := &parsedArgs{strings: map[string]string{}, ints: map[string]int32{}, bools: map[string]bool{},
		blobs: map[string][]byte{}, contexts: map[string]map[string]string{}, tags: map[string][]*kmsv1.Tag{},
		lists: map[string][]string{}, set: map[string]bool{}}
	for i := 0; i < len(args); i++ {
		if p := cmd.positional; args[i] == "--" && p != "" {
			// "--" ends the flags: the one argument after it is the
			// positional one, even if it starts with "-".
			if len(args) != i+2 || pa.set[p] {
				return nil, usagef("\"--\" must be followed by exactly one argument, and only if --%s is not given", p)
			}
			pa.strings[p], pa.set[p] = args[i+1], true
			break
		}
		name, inline, hasInline := strings.Cut(strings.TrimPrefix(args[i], "--"), "=")
		if p := cmd.positional; p != "" && !strings.HasPrefix(args[i], "-") && !pa.set[p] {
			pa.strings[p], pa.set[p] = args[i], true
			continue
		}
		if !strings.HasPrefix(args[i], "--") || name == "" {
			return nil, usagef("unexpected argument %q", args[i])
		}
		if f, ok := lookupFlag(cmd, strings.TrimPrefix(name, "no-")); ok && f.kind == kindBool && strings.HasPrefix(name, "no-") {
			pa.bools[f.name], pa.set[f.name] = false, true
			continue
		}
		f, ok := lookupFlag(cmd, name)
		if !ok {
			return nil, usagef("unknown flag --%s", name)
		}
		if pa.set[name] {
			return nil, usagef("--%s given twice", name)
		}
		pa.set[name] = true
		if f.kind == kindBool {
			pa.bools[name] = true
			continue
		}
		var vals []string
		switch {
		case hasInline:
			vals = []string{inline}
		case f.kind == kindTags || f.kind == kindList:
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				i++
				vals = append(vals, args[i])
			}
		case i+1 < len(args):
			i++
			vals = []string{args[i]}
		}
		if len(vals) == 0 {
			return nil, usagef("--%s needs a value", name)
		}
		if err := pa.setValue(f, vals, stdin); err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
		if f.kind == kindBlob && vals[0] == "-" {
			stdin = nil // standard input can be read once
		}
	}
	for _, f := range cmd.flags {
		if f.required && !pa.set[f.name] && !pa.bools["help"] {
			return nil, usagef("--%s is required", f.name)
		}
	}
	return pa, nil
}

func (pa *parsedArgs) setValue(f flagSpec, vals []string, stdin io.Reader) error {
	var err error
	switch f.kind {
	case kindString:
		pa.strings[f.name] = vals[0]
	case kindInt:
		var n int64
		n, err = strconv.ParseInt(vals[0], 10, 32)
		if errors.Is(err, strconv.ErrRange) {
			return usagef("%q is out of range", vals[0])
		}
		if err != nil {
			return usagef("%q is not a whole number", vals[0])
		}
		pa.ints[f.name] = int32(n)
	case kindBlob:
		pa.blobs[f.name], err = readBlob(vals[0], stdin)
	case kindContext:
		pa.contexts[f.name], err = parseContext(vals[0])
	case kindTags:
		pa.tags[f.name], err = parseTags(vals)
	case kindList:
		pa.lists[f.name], err = parseList(vals)
	}
	return err
}

// readBlob reads a binary parameter: fileb://PATH (raw bytes), - (standard
// input) or base64 text, as the AWS CLI v2 does.
func readBlob(v string, stdin io.Reader) ([]byte, error) {
	switch {
	case strings.HasPrefix(v, "fileb://"):
		return readLimited(strings.TrimPrefix(v, "fileb://"), nil)
	case v == "-":
		if stdin == nil {
			return nil, usagef("standard input is already used by another parameter")
		}
		return readLimited("", stdin)
	case strings.HasPrefix(v, "file://"): // a file holding base64 text
		text, err := textParam(v)
		if err != nil {
			return nil, err
		}
		v = text
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, usagef("not valid base64 (use fileb://PATH for a file, - for standard input)")
	}
	return b, nil
}

func readLimited(path string, r io.Reader) ([]byte, error) {
	if r == nil {
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef("%v", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, usagef("%v", err)
	}
	if len(b) > maxInputBytes {
		return nil, usagef("input larger than %d bytes", maxInputBytes)
	}
	return b, nil
}

// textParam returns a text parameter's value, reading file://PATH.
func textParam(v string) (string, error) {
	if p, ok := strings.CutPrefix(v, "file://"); ok {
		b, err := readLimited(p, nil)
		return string(bytes.TrimSpace(b)), err
	}
	return v, nil
}

// parseContext parses an encryption context: a JSON object or the
// shorthand Key=Value,Key2=Value2.
func parseContext(v string) (map[string]string, error) {
	v, err := textParam(v)
	if err != nil {
		return nil, err
	}
	ec := map[string]string{}
	if strings.HasPrefix(strings.TrimSpace(v), "{") {
		if err := json.Unmarshal([]byte(v), &ec); err != nil {
			return nil, usagef("not a JSON object of strings: %v", err)
		}
		return ec, nil
	}
	for _, pair := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return nil, usagef("%q is not Key=Value", pair)
		}
		if _, dup := ec[k]; dup {
			return nil, usagef("key %q given twice", k)
		}
		ec[k] = val
	}
	return ec, nil
}

// parseTags parses tags: a JSON list of {"TagKey","TagValue"} objects, or
// shorthand items TagKey=k,TagValue=v.
func parseTags(vals []string) ([]*kmsv1.Tag, error) {
	first, err := textParam(vals[0])
	if err != nil {
		return nil, err
	}
	if len(vals) == 1 && strings.HasPrefix(strings.TrimSpace(first), "[") {
		var list []struct{ TagKey, TagValue string }
		if err := json.Unmarshal([]byte(first), &list); err != nil {
			return nil, usagef("not a JSON list of tags: %v", err)
		}
		var tags []*kmsv1.Tag
		for _, t := range list {
			tags = append(tags, &kmsv1.Tag{TagKey: t.TagKey, TagValue: t.TagValue})
		}
		return tags, nil
	}
	var tags []*kmsv1.Tag
	for _, item := range vals {
		t := &kmsv1.Tag{}
		seen := false
		for _, part := range strings.Split(item, ",") {
			k, v, _ := strings.Cut(part, "=")
			switch k {
			case "TagKey":
				t.TagKey, seen = v, true
			case "TagValue":
				t.TagValue = v
			default:
				return nil, usagef("%q is not TagKey=KEY,TagValue=VALUE", item)
			}
		}
		if !seen {
			return nil, usagef("%q has no TagKey", item)
		}
		tags = append(tags, t)
	}
	return tags, nil
}

// parseList parses a list: several arguments, or one JSON list.
func parseList(vals []string) ([]string, error) {
	if len(vals) == 1 && strings.HasPrefix(vals[0], "[") {
		var list []string
		if err := json.Unmarshal([]byte(vals[0]), &list); err != nil {
			return nil, usagef("not a JSON list of strings: %v", err)
		}
		return list, nil
	}
	return vals, nil
}
