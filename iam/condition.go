package iam

import (
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// opKind is the family of a condition operator.
type opKind uint8

const (
	opString opKind = iota
	opStringFold
	opStringLike
	opNumeric
	opDate
	opBool
	opIP
	opArn
	opNull
)

// cmpKind is the comparison of a Numeric or Date operator.
type cmpKind uint8

const (
	cmpEq cmpKind = iota
	cmpLt
	cmpLe
	cmpGt
	cmpGe
)

type opInfo struct {
	kind   opKind
	cmp    cmpKind
	negate bool
}

// operators lists the condition operators without set qualifier or
// IfExists suffix. Names are case-sensitive, as in AWS.
var operators = map[string]opInfo{
	"StringEquals":              {kind: opString},
	"StringNotEquals":           {kind: opString, negate: true},
	"StringEqualsIgnoreCase":    {kind: opStringFold},
	"StringNotEqualsIgnoreCase": {kind: opStringFold, negate: true},
	"StringLike":                {kind: opStringLike},
	"StringNotLike":             {kind: opStringLike, negate: true},
	"NumericEquals":             {kind: opNumeric},
	"NumericNotEquals":          {kind: opNumeric, negate: true},
	"NumericLessThan":           {kind: opNumeric, cmp: cmpLt},
	"NumericLessThanEquals":     {kind: opNumeric, cmp: cmpLe},
	"NumericGreaterThan":        {kind: opNumeric, cmp: cmpGt},
	"NumericGreaterThanEquals":  {kind: opNumeric, cmp: cmpGe},
	"DateEquals":                {kind: opDate},
	"DateNotEquals":             {kind: opDate, negate: true},
	"DateLessThan":              {kind: opDate, cmp: cmpLt},
	"DateLessThanEquals":        {kind: opDate, cmp: cmpLe},
	"DateGreaterThan":           {kind: opDate, cmp: cmpGt},
	"DateGreaterThanEquals":     {kind: opDate, cmp: cmpGe},
	"Bool":                      {kind: opBool},
	"IpAddress":                 {kind: opIP},
	"NotIpAddress":              {kind: opIP, negate: true},
	"ArnEquals":                 {kind: opArn},
	"ArnLike":                   {kind: opArn},
	"ArnNotEquals":              {kind: opArn, negate: true},
	"ArnNotLike":                {kind: opArn, negate: true},
	"Null":                      {kind: opNull},
}

// setQual is a ForAllValues: or ForAnyValue: qualifier.
type setQual uint8

const (
	setNone setQual = iota
	setAll
	setAny
)

// condition is one compiled (operator, key, values) triple.
type condition struct {
	opInfo
	ifExists bool
	set      setQual
	key      string // canonical
	derived  derivedKey
	strs     []pattern
	nums     []float64
	times    []time.Time
	nets     []netip.Prefix
	bools    []bool
}

// parseOperator splits "ForAnyValue:StringLikeIfExists" into its parts.
func parseOperator(path, name string) (opInfo, setQual, bool, error) {
	set := setNone
	base := name
	if rest, ok := strings.CutPrefix(base, "ForAllValues:"); ok {
		set, base = setAll, rest
	} else if rest, ok := strings.CutPrefix(base, "ForAnyValue:"); ok {
		set, base = setAny, rest
	}
	ifExists := false
	if rest, ok := strings.CutSuffix(base, "IfExists"); ok {
		ifExists, base = true, rest
	}
	info, ok := operators[base]
	switch {
	case !ok:
		return opInfo{}, 0, false, invalidf(path, "unknown condition operator %q", name)
	case info.kind == opNull && (ifExists || set != setNone):
		return opInfo{}, 0, false, invalidf(path, "Null takes neither IfExists nor a set qualifier")
	}
	return info, set, ifExists, nil
}

// compileCondition checks and compiles the values of one key.
func compileCondition(path string, info opInfo, set setQual, ifExists bool, key string, vals []string, vars bool) (condition, error) {
	ck, ok := canonicalKey(key)
	if !ok {
		return condition{}, invalidf(path, "%q is not a condition key (service:name)", key)
	}
	c := condition{opInfo: info, ifExists: ifExists, set: set, key: ck, derived: derivedKeys[ck]}
	switch info.kind {
	case opString, opStringFold, opStringLike, opArn:
		c.strs = make([]pattern, 0, len(vals))
	}
	for i, v := range vals {
		if err := c.addValue(path, i, v, vars); err != nil {
			return condition{}, err
		}
	}
	return c, nil
}

// addValue adds value i; the path of the value is built only for an error.
func (c *condition) addValue(keyPath string, i int, v string, vars bool) error {
	path := keyPath
	if strings.Contains(v, "${") || !c.valid(v) {
		path = keyPath + "[" + strconv.Itoa(i) + "]"
	}
	switch c.kind {
	case opString, opStringFold, opStringLike:
		p, err := newValuePattern(path, v, c.kind == opStringLike, c.kind == opStringFold, vars)
		if err != nil {
			return err
		}
		c.strs = append(c.strs, p)
	case opArn:
		if v != "*" && !looksLikeARN(v) && !(vars && strings.Contains(v, "${")) {
			return invalidf(path, "%q is not an ARN (arn:partition:service:region:account:resource)", v)
		}
		p, err := newValuePattern(path, v, true, false, vars)
		if err != nil {
			return err
		}
		c.strs = append(c.strs, p)
	case opNumeric:
		f, ok := parseNumber(v)
		if !ok {
			return invalidf(path, "%q is not a number", v)
		}
		c.nums = append(c.nums, f)
	case opDate:
		t, ok := parseDate(v)
		if !ok {
			return invalidf(path, "%q is not a date (RFC 3339, YYYY-MM-DD or epoch seconds)", v)
		}
		c.times = append(c.times, t)
	case opBool, opNull:
		b, ok := parseBool(v)
		if !ok {
			return invalidf(path, "%q is not true or false", v)
		}
		c.bools = append(c.bools, b)
	case opIP:
		p, ok := parsePrefix(v)
		if !ok {
			return invalidf(path, "%q is not an IP address or CIDR block", v)
		}
		c.nets = append(c.nets, p)
	}
	return nil
}

// valid is a quick check of a value, so that paths are built only for bad
// values (addValue reports the error).
func (c *condition) valid(v string) bool {
	switch c.kind {
	case opString, opStringFold, opStringLike:
		return true
	case opArn:
		return v == "*" || looksLikeARN(v)
	case opNumeric:
		_, ok := parseNumber(v)
		return ok
	case opDate:
		_, ok := parseDate(v)
		return ok
	case opBool, opNull:
		_, ok := parseBool(v)
		return ok
	}
	_, ok := parsePrefix(v)
	return ok
}

func looksLikeARN(s string) bool {
	return strings.HasPrefix(s, "arn:") && strings.Count(s, ":") >= 5
}

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, " _xXpPiInN") {
		return 0, false
	}
	return f, true
}

// parseDate accepts RFC 3339 (with or without fractional seconds), a bare
// date (midnight UTC) or epoch seconds.
func parseDate(s string) (time.Time, bool) {
	if s != "" && strings.Trim(s, "0123456789") == "" && len(s) <= 12 {
		n, err := strconv.ParseInt(s, 10, 64)
		return time.Unix(n, 0), err == nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func parseBool(s string) (bool, bool) {
	switch {
	case equalFoldASCII(s, "true"):
		return true, true
	case equalFoldASCII(s, "false"):
		return false, true
	}
	return false, false
}

func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, false
		}
		return netip.PrefixFrom(p.Addr().Unmap(), unmapBits(p)).Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// unmapBits turns the length of a prefix of an IPv4-mapped IPv6 address
// into the length of the IPv4 prefix.
func unmapBits(p netip.Prefix) int {
	if p.Addr().Is4In6() {
		return max(p.Bits()-96, 0)
	}
	return p.Bits()
}
