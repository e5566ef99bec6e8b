package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/cluster"
	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
)

// ErrorDomain is the ErrorInfo domain of every status kmsd returns.
const ErrorDomain = "kms.v1"

// AWS KMS exception names used by more than one handler.
const (
	excValidation         = "ValidationException"
	excNotFound           = "NotFoundException"
	excAlreadyExists      = "AlreadyExistsException"
	excDisabled           = "DisabledException"
	excInvalidState       = "KMSInvalidStateException"
	excInvalidCiphertxt   = "InvalidCiphertextException"
	excIncorrectKey       = "IncorrectKeyException"
	excLimitExceeded      = "LimitExceededException"
	excUnsupported        = "UnsupportedOperationException"
	excInvalidAlias       = "InvalidAliasNameException"
	excInvalidMarker      = "InvalidMarkerException"
	excTag                = "TagException"
	excInvalidKeyUsage    = "InvalidKeyUsageException"
	excDryRun             = "DryRunOperationException"
	excDependency         = "DependencyTimeoutException"
	excInternal           = "KMSInternalException"
	excConflict           = "ConflictException"
	excIncorrectMaterial  = "IncorrectKeyMaterialException"
	excInvalidImportToken = "InvalidImportTokenException"
	excExpiredImportToken = "ExpiredImportTokenException"
	excKeyUnavailable     = "KeyUnavailableException"
	excInvalidNextToken   = "InvalidNextTokenException"
	excThrottling         = "ThrottlingException"
	// excStorageFull is kmsd's own: a member's data directory is nearly
	// full, so nothing that must be written is taken.
	excStorageFull = "StorageFullException"
	// excNotLeader is kmsd's own: the call must be made on the leader
	// (ClusterService.Restore), whose address the message gives.
	excNotLeader = "NotLeaderException"
)

// AWS IAM exception names, for the IdentityManagementService; it also
// answers LimitExceededException and ValidationException.
const (
	excNoSuchEntity    = "NoSuchEntityException"
	excEntityExists    = "EntityAlreadyExistsException"
	excMalformedPolicy = "MalformedPolicyDocumentException"
	excDeleteConflict  = "DeleteConflictException"
)

// apiError is an error whose exception name and message may be shown to the
// client. Handlers build them with the constructors below; anything else that
// reaches a client goes through errorTable.
type apiError struct {
	code    codes.Code
	name    string
	message string
	cause   error
}

func (e *apiError) Error() string { return e.name + ": " + e.message }
func (e *apiError) Unwrap() error { return e.cause }

func newAPIError(code codes.Code, name, format string, args ...any) *apiError {
	return &apiError{code: code, name: name, message: fmt.Sprintf(format, args...)}
}

func validationError(format string, args ...any) error {
	return newAPIError(codes.InvalidArgument, excValidation, format, args...)
}

func notFound(format string, args ...any) error {
	return newAPIError(codes.NotFound, excNotFound, format, args...)
}

func unsupported(format string, args ...any) error {
	return newAPIError(codes.Unimplemented, excUnsupported, format, args...)
}

// errorRow maps a sentinel error to a status code, an exception name and a
// message that is safe to send.
type errorRow struct {
	err     error
	code    codes.Code
	name    string
	message string
}

// errorTable is the one place where domain errors become gRPC statuses. Rows
// are matched in order with errors.Is.
var errorTable = []errorRow{
	{keystore.ErrNotFound, codes.NotFound, excNotFound, "The requested resource does not exist."},
	{keystore.ErrAlreadyExists, codes.AlreadyExists, excAlreadyExists, "The resource already exists."},
	{keystore.ErrInvalidState, codes.FailedPrecondition, excInvalidState, "The key's state does not allow this operation."},
	{keystore.ErrLimitExceeded, codes.ResourceExhausted, excLimitExceeded, "A limit was exceeded."},
	{keystore.ErrInvalidMarker, codes.InvalidArgument, excInvalidMarker, "The marker is not valid."},
	{keystore.ErrDeleteConflict, codes.FailedPrecondition, excDeleteConflict, "The entity still has attached entities that must be removed first."},
	{iam.ErrInvalidPolicy, codes.InvalidArgument, excMalformedPolicy, "The policy document is malformed."},
	{iam.ErrPolicyLimit, codes.ResourceExhausted, excLimitExceeded, "The policy document exceeds a limit."},
	{envelope.ErrDecrypt, codes.InvalidArgument, excInvalidCiphertxt, "The ciphertext is invalid."},
	{envelope.ErrInvalidContext, codes.InvalidArgument, excValidation, "The encryption context is invalid."},
	{ErrBackup, codes.InvalidArgument, excValidation, "The file is not a kmsd backup made with this cluster's root key, or it was altered."},
	{cluster.ErrNotLeader, codes.Unavailable, excDependency, "No leader is available; retry the request."},
	{cluster.ErrTimeout, codes.Unavailable, excDependency, "The request timed out; its outcome is unknown. Retry the request."},
	{cluster.ErrShutdown, codes.Unavailable, excDependency, "The server is shutting down; retry the request."},
	{cluster.ErrRestoring, codes.Unavailable, excDependency, "The cluster is installing a restored backup; retry the request."},
	{cluster.ErrStorageFull, codes.ResourceExhausted, excStorageFull, "The data directory of a kmsd member is nearly full, so it takes nothing that must be written (every call is, for its audit record); nothing was done. Free space on that member, then retry the request."},
}

// toStatus converts any error returned by a handler into the status sent to
// the client. Unexpected errors are logged and become KMSInternalException
// with a generic message: their detail never leaves the server.
func toStatus(ctx context.Context, log *slog.Logger, method string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isDomain(err) {
		return err
	}
	code, name, msg := classify(err)
	if code == codes.Internal {
		log.ErrorContext(ctx, "internal error", "method", method, "err", err)
	}
	return withReason(code, name, msg)
}

// isDomain reports whether err is one of ours rather than a status produced
// by gRPC itself.
func isDomain(err error) bool {
	var ae *apiError
	return errors.As(err, &ae)
}

func classify(err error) (codes.Code, string, string) {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae.code, ae.name, ae.message
	}
	for _, row := range errorTable {
		if errors.Is(err, row.err) {
			return row.code, row.name, row.message
		}
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded, excDependency, "The request deadline was exceeded."
	case errors.Is(err, context.Canceled):
		return codes.Canceled, excDependency, "The request was canceled."
	}
	return codes.Internal, excInternal, "An internal error occurred."
}

func withReason(code codes.Code, name, msg string) error {
	st := status.New(code, msg)
	if ds, err := st.WithDetails(&errdetails.ErrorInfo{Reason: name, Domain: ErrorDomain}); err == nil {
		st = ds
	}
	return st.Err()
}

// ExceptionName returns the AWS exception name carried by a status error, or
// "" if it carries none.
func ExceptionName(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return ""
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// Errors of the server itself.
var (
	// errDryRun answers a DryRun request that would have succeeded.
	errDryRun = &apiError{code: codes.FailedPrecondition, name: excDryRun,
		message: "The request would have succeeded, but the DryRun option is set."}
	// errCorruptMaterial: stored material does not unwrap under the root key.
	// It is an internal error: the client sees KMSInternalException.
	errCorruptMaterial = errors.New("server: stored key material does not unwrap under the root key")
	// errInvalidWrappedMaterial answers every failure to unwrap imported
	// material with one status and message.
	errInvalidWrappedMaterial = &apiError{code: codes.InvalidArgument, name: excInvalidCiphertxt,
		message: "The encrypted key material could not be decrypted with the wrapping key of the import token."}
	// errThrottled answers a call over its caller's or the node's request
	// quota (ratelimit.go); nothing was done.
	errThrottled = &apiError{code: codes.ResourceExhausted, name: excThrottling,
		message: "The request rate is over the quota; nothing was done. Slow down and retry the request."}
)
