package audit

import (
	"errors"
	"fmt"
)

var (
	// ErrTampered is the sentinel every *TamperError unwraps to: the exported
	// records and signed tree heads do not match.
	ErrTampered = errors.New("audit: log has been tampered with")

	// ErrInvalidProof means an inclusion or consistency proof does not verify.
	ErrInvalidProof = errors.New("audit: invalid proof")

	// ErrOutOfRange means a leaf index or tree size lies outside the tree.
	ErrOutOfRange = errors.New("audit: index out of range")

	// ErrMalformedEvent means a record is not a well-formed audit event.
	ErrMalformedEvent = errors.New("audit: malformed event")

	// ErrMalformedHead means a tree head or signed tree head is not well formed.
	ErrMalformedHead = errors.New("audit: malformed tree head")

	// ErrUnknownKey means a signed tree head names a key other than the one
	// it is being verified with.
	ErrUnknownKey = errors.New("audit: tree head signed by an unknown key")

	// ErrBadSignature means a tree head signature does not verify.
	ErrBadSignature = errors.New("audit: bad tree head signature")

	// ErrMalformedExport means an export file or a saved inclusion proof is
	// not well formed or exceeds its size limit.
	ErrMalformedExport = errors.New("audit: malformed export")
)

// TamperError reports where VerifyLog found the log altered. Index is the
// first record that cannot be trusted (see VerifyLog for the exact rule) and
// Head the position in the heads slice of the signed tree head that exposed
// it, or -1 when no single head did.
type TamperError struct {
	Index  int64
	Head   int
	Reason string
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit: log tampered at record %d: %s", e.Index, e.Reason)
}

// Unwrap returns ErrTampered.
func (e *TamperError) Unwrap() error { return ErrTampered }

func invalidProof(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProof}, args...)...)
}
