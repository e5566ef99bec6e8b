package iam

import (
	"fmt"
	"slices"
	"strings"
)

// PrincipalType is the kind of caller a request comes from.
type PrincipalType uint8

// The principal types. The zero value is no principal: Evaluate denies it.
const (
	// PrincipalRoot is the account itself (arn:aws:iam::ACCOUNT:root).
	PrincipalRoot PrincipalType = iota + 1
	// PrincipalUser is an IAM user.
	PrincipalUser
	// PrincipalRoleSession is a session of a role, from AssumeRole.
	PrincipalRoleSession
	// PrincipalService is a service principal such as
	// "logs.amazonaws.com"; it has no account and no identity policies.
	PrincipalService
)

// awsName is the value of aws:PrincipalType.
func (t PrincipalType) awsName() string {
	switch t {
	case PrincipalRoot:
		return "Account"
	case PrincipalUser:
		return "User"
	case PrincipalRoleSession:
		return "AssumedRole"
	case PrincipalService:
		return "AWSService"
	}
	return ""
}

func (t PrincipalType) String() string { return t.awsName() }

// Principal is the authenticated caller of a request. Build it with
// RootPrincipal, UserPrincipal, RoleSessionPrincipal or ServicePrincipal
// from the identity store's records, never from names the caller typed:
// Evaluate compares ARNs byte for byte.
type Principal struct {
	Type    PrincipalType
	Account string // 12 digits; empty for a service
	// ARN is the principal's own ARN: the root, user or assumed-role
	// session ARN, or the service name for a service principal.
	ARN     string
	RoleARN string // the role of a session (with its path)
	Name    string // the user name (aws:username); empty otherwise
	UserID  string // aws:userid: the unique id of a user, "ROLEID:SESSION" of a session, the account of the root
}

// RootPrincipal returns the principal of account's root.
func RootPrincipal(account string) (Principal, error) {
	if !isAccountID(account) {
		return Principal{}, fmt.Errorf("%w: account %q must be 12 digits", ErrInvalidARN, account)
	}
	return Principal{Type: PrincipalRoot, Account: account, ARN: rootARN(account), UserID: account}, nil
}

// UserPrincipal returns the principal of the IAM user with the given ARN
// (arn:aws:iam::ACCOUNT:user/[PATH/]NAME) and unique id.
func UserPrincipal(userARN, userID string) (Principal, error) {
	a, kind, name, err := parsePrincipalARN(userARN)
	if err != nil {
		return Principal{}, err
	}
	if kind != "user" {
		return Principal{}, fmt.Errorf("%w: %q is not a user ARN", ErrInvalidARN, userARN)
	}
	return Principal{Type: PrincipalUser, Account: a.Account, ARN: userARN, Name: name, UserID: userID}, nil
}

// RoleSessionPrincipal returns the principal of session sessionName of the
// role with the given ARN (arn:aws:iam::ACCOUNT:role/[PATH/]NAME) and
// unique id. Its ARN is arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION.
func RoleSessionPrincipal(roleARN, roleID, sessionName string) (Principal, error) {
	a, kind, name, err := parsePrincipalARN(roleARN)
	if err != nil {
		return Principal{}, err
	}
	if kind != "role" {
		return Principal{}, fmt.Errorf("%w: %q is not a role ARN", ErrInvalidARN, roleARN)
	}
	if !isIAMName(sessionName) {
		return Principal{}, fmt.Errorf("%w: bad session name %q", ErrInvalidARN, sessionName)
	}
	return Principal{
		Type:    PrincipalRoleSession,
		Account: a.Account,
		ARN:     ARN{Partition, "sts", "", a.Account, "assumed-role/" + name + "/" + sessionName}.String(),
		RoleARN: roleARN,
		UserID:  roleID + ":" + sessionName,
	}, nil
}

// ServicePrincipal returns the principal of a service such as
// "logs.amazonaws.com".
func ServicePrincipal(name string) (Principal, error) {
	if !isToken(name, true) {
		return Principal{}, fmt.Errorf("%w: bad service principal %q", ErrInvalidARN, name)
	}
	return Principal{Type: PrincipalService, ARN: name}, nil
}

func rootARN(account string) string {
	return ARN{Partition, "iam", "", account, "root"}.String()
}

// parsePrincipalARN checks a root, user, role or assumed-role ARN and
// returns its kind ("root", "user", "role", "assumed-role") and name (the
// last path segment; for a session, the role name).
func parsePrincipalARN(s string) (a ARN, kind, name string, err error) {
	a, err = ParseARN(s)
	if err != nil {
		return ARN{}, "", "", err
	}
	bad := func() (ARN, string, string, error) {
		return ARN{}, "", "", fmt.Errorf("%w: %q is not a root, user, role or assumed-role ARN", ErrInvalidARN, s)
	}
	if a.Region != "" || !isAccountID(a.Account) {
		return bad()
	}
	segs := strings.Split(a.Resource, "/")
	kind, last := segs[0], segs[len(segs)-1]
	for _, seg := range segs[1:] {
		if !isIAMName(seg) {
			return bad()
		}
	}
	switch {
	case a.Service == "iam" && kind == "root" && len(segs) == 1:
	case a.Service == "iam" && (kind == "user" || kind == "role") && len(segs) >= 2:
	case a.Service == "sts" && kind == "assumed-role" && len(segs) == 3:
		last = segs[1]
	default:
		return bad()
	}
	return a, kind, last, nil
}

// principalSet is a compiled Principal or NotPrincipal element.
type principalSet struct {
	any      bool
	accounts []string // account roots, by account id
	arns     []string // user, role and assumed-role session ARNs
	services []string
}

// matchKind says how a principal element names a request's principal.
type matchKind uint8

const (
	matchNone matchKind = iota
	// matchAccount: the element names the principal's account root and
	// the principal is not the root: the account delegates to its IAM
	// policies.
	matchAccount
	// matchDirect: "*", the principal's own ARN, or the role of a session.
	matchDirect
	// matchSession: the exact ARN of a role session.
	matchSession
)

func (ps *principalSet) match(p *Principal) matchKind {
	if ps.any {
		return matchDirect
	}
	switch p.Type {
	case PrincipalService:
		if slices.Contains(ps.services, p.ARN) {
			return matchDirect
		}
		return matchNone
	case PrincipalRoot:
		if slices.Contains(ps.accounts, p.Account) {
			return matchDirect
		}
		return matchNone
	case PrincipalRoleSession:
		if slices.Contains(ps.arns, p.ARN) {
			return matchSession
		}
		if slices.Contains(ps.arns, p.RoleARN) {
			return matchDirect
		}
	case PrincipalUser:
		if slices.Contains(ps.arns, p.ARN) {
			return matchDirect
		}
	default:
		return matchNone
	}
	if slices.Contains(ps.accounts, p.Account) {
		return matchAccount
	}
	return matchNone
}

// addAWS adds one value of a Principal's "AWS" list.
func (ps *principalSet) addAWS(path, v string) error {
	switch {
	case v == "*":
		ps.any = true
	case isAccountID(v):
		ps.accounts = append(ps.accounts, v)
	case strings.HasPrefix(v, "arn:"):
		a, kind, _, err := parsePrincipalARN(v)
		if err != nil {
			return invalidf(path, "%v", err)
		}
		if kind == "root" {
			ps.accounts = append(ps.accounts, a.Account)
		} else {
			ps.arns = append(ps.arns, v)
		}
	default:
		return invalidf(path, "%q is not \"*\", an account id or a principal ARN (wildcards are not allowed in principals; use a condition on aws:PrincipalArn)", v)
	}
	return nil
}

func (ps *principalSet) addService(path, v string) error {
	if v == "*" || !isToken(v, true) {
		return invalidf(path, "%q is not a service principal such as \"logs.amazonaws.com\"", v)
	}
	ps.services = append(ps.services, v)
	return nil
}
