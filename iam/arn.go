package iam

import (
	"fmt"
	"strings"
)

// Partition is the only ARN partition kmsd uses, so that AWS tooling and
// policies written for AWS work unchanged.
const Partition = "aws"

// ARN is an Amazon Resource Name split into its six parts:
// arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
type ARN struct {
	Partition, Service, Region, Account, Resource string
}

func (a ARN) String() string {
	return "arn:" + a.Partition + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// KeyARN returns the ARN of key id in region and account.
func KeyARN(region, account, id string) string {
	return ARN{Partition, "kms", region, account, "key/" + id}.String()
}

// AliasARN returns the ARN of an alias ("alias/NAME") in region and account.
func AliasARN(region, account, alias string) string {
	return ARN{Partition, "kms", region, account, alias}.String()
}

// ParseARN splits s and checks it strictly: partition "aws", a lower-case
// service, a 12-digit account or none, and a resource of printable ASCII
// without empty, "." or ".." path segments and without a trailing "/".
// These rules make every spelling of a name other than the canonical one
// an error rather than a different name that a policy might not mention.
func ParseARN(s string) (ARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" {
		return ARN{}, fmt.Errorf("%w: %q is not arn:partition:service:region:account:resource", ErrInvalidARN, s)
	}
	a := ARN{parts[1], parts[2], parts[3], parts[4], parts[5]}
	switch {
	case a.Partition != Partition:
		return ARN{}, fmt.Errorf("%w: %q: partition must be %q", ErrInvalidARN, s, Partition)
	case !isToken(a.Service, false):
		return ARN{}, fmt.Errorf("%w: %q: bad service", ErrInvalidARN, s)
	case a.Region != "" && !isToken(a.Region, false):
		return ARN{}, fmt.Errorf("%w: %q: bad region", ErrInvalidARN, s)
	case a.Account != "" && !isAccountID(a.Account) && a.Account != "aws":
		return ARN{}, fmt.Errorf("%w: %q: account must be 12 digits", ErrInvalidARN, s)
	case !validResourceName(a.Resource):
		return ARN{}, fmt.Errorf("%w: %q: bad resource name", ErrInvalidARN, s)
	}
	return a, nil
}

// isToken accepts a non-empty run of [a-z0-9-] (and '.' when dots).
func isToken(s string, dots bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || dots && c == '.') {
			return false
		}
	}
	return true
}

func isAccountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// validResourceName accepts printable ASCII without spaces, whose
// '/'-separated segments are non-empty and neither "." nor "..".
func validResourceName(s string) bool {
	if s == "" || len(s) > 2048 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	for seg := range strings.SplitSeq(s, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// isIAMName accepts IAM user, role and session names: [A-Za-z0-9+=,.@_-],
// 1 to 128 characters.
func isIAMName(s string) bool {
	if s == "" || len(s) > 128 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			return false
		}
	}
	return true
}
