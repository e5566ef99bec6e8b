package iam

import (
	"errors"
	"fmt"
)

var (
	// ErrDenied is the error Authorize returns when a request is not
	// allowed, explicitly or by default. The server answers
	// AccessDeniedException and says nothing about why.
	ErrDenied = errors.New("iam: access denied")

	// ErrInvalidPolicy is the sentinel every *PolicyError about the
	// grammar or the values of a policy document unwraps to
	// (MalformedPolicyDocumentException).
	ErrInvalidPolicy = errors.New("iam: invalid policy document")

	// ErrPolicyLimit is the sentinel every *PolicyError about a size,
	// depth or count limit unwraps to (LimitExceededException). Such
	// documents are refused before they are decoded.
	ErrPolicyLimit = errors.New("iam: policy document exceeds a limit")

	// ErrInvalidARN means a string is not an ARN of the expected form.
	ErrInvalidARN = errors.New("iam: invalid ARN")

	// ErrInvalidGrant means a grant names an unknown operation, has no
	// grantee, or carries constraints its operations cannot honour.
	ErrInvalidGrant = errors.New("iam: invalid grant")
)

// PolicyError names the element of a policy document that is wrong and
// why. Path is a JSONPath-like location such as "Statement[1].Effect"
// (empty for the whole document). It unwraps to ErrInvalidPolicy or
// ErrPolicyLimit.
type PolicyError struct {
	Path string
	Msg  string
	Err  error
}

func (e *PolicyError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%v: %s", e.Err, e.Msg)
	}
	return fmt.Sprintf("%v: %s: %s", e.Err, e.Path, e.Msg)
}

func (e *PolicyError) Unwrap() error { return e.Err }

func invalidf(path, format string, args ...any) error {
	return &PolicyError{Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrInvalidPolicy}
}

func limitf(path, format string, args ...any) error {
	return &PolicyError{Path: path, Msg: fmt.Sprintf(format, args...), Err: ErrPolicyLimit}
}
