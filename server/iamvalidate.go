package server

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/kmsd/kmsd/iam"
)

// Input rules of AWS IAM's operations.
const (
	maxUserNameLen    = 64
	maxGroupNameLen   = 128
	maxRoleNameLen    = 64
	maxPolicyNameLen  = 128
	maxPathLen        = 512
	maxRoleDescLen    = 1000
	maxPolicyDocLen   = 131072
	minSessionSeconds = 3600
	maxSessionSeconds = 43200
	// Listings: MaxItems 1 to 1000, 100 by default.
	defaultIAMMaxItems = 100
	maxIAMMaxItems     = 1000
)

const namePattern = `[\w+=,.@-]+`

// validateName checks a user, group, role or policy name: letters, digits
// and +=,.@_- , 1 to max characters.
func validateName(member, v string, max int) error {
	if len(v) < 1 || len(v) > max {
		return constraintError(member, v, "must have length less than or equal to "+strconv.Itoa(max)+" and greater than or equal to 1")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("+=,.@_-", c) >= 0) {
			return constraintError(member, v, "must satisfy regular expression pattern: "+namePattern)
		}
	}
	return nil
}

func validateUserName(v string) error  { return validateName("userName", v, maxUserNameLen) }
func validateGroupName(v string) error { return validateName("groupName", v, maxGroupNameLen) }
func validateRoleName(v string) error  { return validateName("roleName", v, maxRoleNameLen) }
func validatePolicyName(v string) error {
	return validateName("policyName", v, maxPolicyNameLen)
}

// entityPath returns the path of a new entity ("/" when none is given):
// "/" or "/segments/", of printable ASCII without spaces, 1 to 512
// characters.
func entityPath(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	if len(v) > maxPathLen || !printableASCII(v) || v != "/" && (!strings.HasPrefix(v, "/") || !strings.HasSuffix(v, "/") || strings.Contains(v, "//")) {
		return "", constraintError("path", v, `must satisfy regular expression pattern: (\u002F)|(\u002F[\u0021-\u007E]+\u002F)`)
	}
	return v, nil
}

// pathPrefix returns a listing's path prefix ("/" when none is given).
func pathPrefix(v string) (string, error) {
	if v == "" {
		return "/", nil
	}
	if len(v) > maxPathLen || !strings.HasPrefix(v, "/") || !printableASCII(v) {
		return "", constraintError("pathPrefix", v, `must satisfy regular expression pattern: \u002F[\u0021-\u007E]*`)
	}
	return v, nil
}

func printableASCII(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] <= ' ' || v[i] >= 0x7f {
			return false
		}
	}
	return true
}

// validateAccessKeyID checks the form of an access key id.
func validateAccessKeyID(v string) error {
	if len(v) < 16 || len(v) > 128 {
		return constraintError("accessKeyId", v, "must have length less than or equal to 128 and greater than or equal to 16")
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return constraintError("accessKeyId", v, `must satisfy regular expression pattern: [\w]+`)
		}
	}
	return nil
}

// parsePolicy checks an identity or trust policy document.
func parsePolicy(doc string, kind iam.Kind) error {
	if len(doc) < 1 || len(doc) > maxPolicyDocLen {
		return constraintError("policyDocument", "", "must have length less than or equal to 131072 and greater than or equal to 1")
	}
	if _, err := iam.Parse([]byte(doc), kind); err != nil {
		return policyError(err)
	}
	return nil
}

// validateRoleDescription checks a role's description.
func validateRoleDescription(v string) error {
	if len(v) > maxRoleDescLen {
		return constraintError("description", v, "must have length less than or equal to 1000")
	}
	for _, r := range v {
		if !(r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0x7e || r >= 0xa1 && r <= 0xff) {
			return constraintError("description", v, `must satisfy regular expression pattern: [\u0009\u000A\u000D\u0020-\u007E\u00A1-\u00FF]*`)
		}
	}
	return nil
}

// maxItems returns a listing's page size.
func maxItems(v int32) (int, error) {
	if v == 0 {
		return defaultIAMMaxItems, nil
	}
	if v < 1 || v > maxIAMMaxItems {
		return 0, constraintError("maxItems", strconv.Itoa(int(v)), "must have value less than or equal to 1000 and greater than or equal to 1")
	}
	return int(v), nil
}

// Markers of the listings the service pages itself (the names of an
// entity's policies, a group's members): the last name returned.
const markerNames = "iam1:"

// pageNames returns the page of sorted names after marker, and the marker
// of the next page ("" on the last).
func pageNames(sorted []string, limit int, marker string) ([]string, string, error) {
	after := ""
	if marker != "" {
		b, err := base64.RawURLEncoding.DecodeString(marker)
		rest, ok := strings.CutPrefix(string(b), markerNames)
		if err != nil || !ok || rest == "" {
			return nil, "", validationError("Invalid Marker.")
		}
		after = rest
	}
	i := 0
	for i < len(sorted) && after != "" && sorted[i] <= after {
		i++
	}
	rest := sorted[i:]
	if len(rest) <= limit {
		return rest, "", nil
	}
	return rest[:limit], base64.RawURLEncoding.EncodeToString([]byte(markerNames + rest[limit-1])), nil
}
