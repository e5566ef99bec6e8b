package awsapi

import (
	"encoding/json"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/server"
)

// Errors on the wire. The body is {"__type": EXCEPTION, "message": TEXT}
// with the header X-Amzn-ErrorType: EXCEPTION, and the HTTP status is
// AWS's: 400 for every client error (AccessDeniedException,
// NotFoundException, ValidationException, InvalidSignatureException,
// ThrottlingException, ...), 500 for KMSInternalException and
// KeyUnavailableException, 503 for DependencyTimeoutException. The
// exception names and messages come from the server's one error table
// (server/errors.go); this file only chooses the HTTP status.

// Exceptions of the protocol itself.
const (
	excSerialization    = "SerializationException"
	excUnknownOperation = "UnknownOperationException"
	excUnsupported      = "UnsupportedOperationException"
	excInternal         = "KMSInternalException"
	excDependency       = "DependencyTimeoutException"
	excValidation       = "ValidationException"
	excAccessDenied     = "AccessDeniedException"
	excTooLarge         = "RequestEntityTooLargeException"
)

// awsError is an error as the client sees it.
type awsError struct {
	status  int
	name    string
	message string
}

func newError(status int, name, message string) *awsError {
	return &awsError{status: status, name: name, message: message}
}

// httpStatus lists the exceptions that are not 400.
var httpStatus = map[string]int{
	excInternal:                   http.StatusInternalServerError,
	"KeyUnavailableException":     http.StatusInternalServerError,
	excDependency:                 http.StatusServiceUnavailable,
	"ServiceUnavailableException": http.StatusServiceUnavailable,
	excTooLarge:                   http.StatusRequestEntityTooLarge,
}

// fromStatus converts an error of server.Invoke (a gRPC status carrying an
// exception name) to the client's error.
func fromStatus(err error) *awsError {
	st, _ := status.FromError(err)
	name, msg := server.ExceptionName(err), st.Message()
	if name == "" {
		// A status that did not come through the error table: gRPC's own.
		switch st.Code() {
		case codes.Unimplemented:
			name, msg = excUnsupported, "This operation is not supported by kmsd."
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			name, msg = excDependency, "The service could not complete the request in time. Retry the request."
		case codes.InvalidArgument, codes.ResourceExhausted:
			name = excValidation
		case codes.PermissionDenied:
			name = excAccessDenied
		default:
			name, msg = excInternal, "An internal error occurred."
		}
	}
	code, ok := httpStatus[name]
	if !ok {
		code = http.StatusBadRequest
	}
	return newError(code, name, msg)
}

// write sends the error.
func (e *awsError) write(w http.ResponseWriter) {
	b, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.name, e.message})
	h := w.Header()
	h.Set("Content-Type", contentTypeJSON)
	h.Set(headerErrorType, e.name)
	w.WriteHeader(e.status)
	w.Write(b)
}
