package server

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The identity service: kms.v1.IdentityManagementService, AWS IAM's
// operations on users, groups, roles, access keys and identity policies.
// Handlers validate their input with AWS IAM's rules and error names,
// prepare everything random or time-dependent (ids, dates, the wrapped
// secret of an access key) and propose a keystore mutation, as the key
// handlers do. Reads answer from the store's memory, after the read
// barrier when one is configured.

// IdentityStore is the read side of the identities; *keystore.Store
// implements it. Lookups by name ignore case. The listings page with
// opaque markers and return keystore.ErrInvalidMarker for a marker they
// did not return, and the per-user reads keystore.ErrNotFound for an
// unknown user or role.
type IdentityStore interface {
	User(name string) (keystore.User, bool)
	UserRef(name string) (keystore.UserRef, bool)
	MFADevice(serial string) (keystore.MFADevice, bool)
	MFADevices(userName string) []keystore.MFADevice
	Group(name string) (keystore.Group, bool)
	Role(name string) (keystore.Role, bool)
	AccessKey(id string) (keystore.AccessKey, bool)
	AccessKeys(userName string) ([]keystore.AccessKey, error)
	Users(pathPrefix string, limit int, marker string) ([]keystore.User, string, error)
	Groups(pathPrefix string, limit int, marker string) ([]keystore.Group, string, error)
	Roles(pathPrefix string, limit int, marker string) ([]keystore.Role, string, error)
	GroupsForUser(userName string, limit int, marker string) ([]keystore.Group, string, error)
	UserPolicies(userName string) ([]keystore.PolicyRef, error)
	RolePolicies(roleName string) ([]keystore.PolicyRef, error)
	EntitiesForPolicy(arn string) int
}

var _ IdentityStore = (*keystore.Store)(nil)

// iamService implements kms.v1.IdentityManagementService.
type iamService struct {
	kmsv1.UnimplementedIdentityManagementServiceServer
	s   *Server
	ids IdentityStore
}

var _ kmsv1.IdentityManagementServiceServer = (*iamService)(nil)

// identityStore returns the store's identities, if it keeps them.
func (s *Server) identityStore() (IdentityStore, bool) {
	ids, ok := s.store.(IdentityStore)
	return ids, ok
}

// registerIdentity registers the identity service when the store keeps
// identities.
func (s *Server) registerIdentity(g grpc.ServiceRegistrar) {
	if ids, ok := s.identityStore(); ok {
		kmsv1.RegisterIdentityManagementServiceServer(g, &iamService{s: s, ids: ids})
		kmsv1.RegisterSecurityTokenServiceServer(g, &stsService{s: s})
	}
}

// read waits for the read barrier, if any, before a read.
func (is *iamService) read(ctx context.Context) error {
	if is.s.reads == nil {
		return nil
	}
	return is.s.readBarrier(ctx)
}

// propose commits an identity mutation made now.
func (is *iamService) propose(ctx context.Context, op keystore.Op, a keystore.IdentityMutation) error {
	return is.s.propose(ctx, &keystore.Mutation{Op: op, Time: is.s.now().UTC(), IAM: &a})
}

// Errors of the identity service, with AWS IAM's names and messages.

func noSuchEntity(format string, args ...any) error {
	return newAPIError(codes.NotFound, excNoSuchEntity, format, args...)
}

func entityExists(format string, args ...any) error {
	return newAPIError(codes.AlreadyExists, excEntityExists, format, args...)
}

func iamLimit(format string, args ...any) error {
	return newAPIError(codes.ResourceExhausted, excLimitExceeded, format, args...)
}

func deleteConflict(format string, args ...any) error {
	return newAPIError(codes.FailedPrecondition, excDeleteConflict, format, args...)
}

// constraintError is AWS's message for a parameter that fails a
// constraint.
func constraintError(member, value, constraint string) error {
	if len(value) > 128 {
		value = value[:128] + "..."
	}
	return validationError("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member %s", value, member, constraint)
}

// policyError answers a policy document that does not parse: the message
// names the bad element.
func policyError(err error) error {
	var pe *iam.PolicyError
	if !errors.As(err, &pe) {
		return newAPIError(codes.InvalidArgument, excMalformedPolicy, "The policy document is malformed.")
	}
	where := pe.Path
	if where == "" {
		where = "the document"
	}
	if errors.Is(err, iam.ErrPolicyLimit) {
		return iamLimit("The policy document exceeds a limit at %s: %s", where, pe.Msg)
	}
	return newAPIError(codes.InvalidArgument, excMalformedPolicy, "%s: %s", where, pe.Msg)
}

// mapStoreError turns the domain errors of an identity mutation into AWS
// IAM's exceptions; what describes the entity ("The user with name x").
func mapStoreError(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, keystore.ErrNotFound):
		return noSuchEntity("%s cannot be found.", what)
	case errors.Is(err, keystore.ErrAlreadyExists):
		return entityExists("%s already exists.", what)
	case errors.Is(err, keystore.ErrDeleteConflict):
		return deleteConflict("Cannot delete entity, must remove referenced objects first: %s.", strings.TrimSuffix(what, "."))
	case errors.Is(err, keystore.ErrLimitExceeded):
		return iamLimit("Cannot exceed quota: %s", limitReason(err))
	case errors.Is(err, keystore.ErrInvalidMarker):
		return validationError("Invalid Marker.")
	}
	return err
}

// limitReason keeps what the store said about the limit (after "Op: ").
func limitReason(err error) string {
	msg := strings.TrimSuffix(err.Error(), ": "+keystore.ErrLimitExceeded.Error())
	if _, rest, ok := strings.Cut(msg, ": "); ok {
		return rest
	}
	return msg
}

// Unique ids as AWS IAM's: a four-letter prefix and base32 letters and
// digits.
const (
	prefixUserID      = "AIDA"
	prefixGroupID     = "AGPA"
	prefixRoleID      = "AROA"
	prefixAccessKeyID = "AKIA"
	prefixPolicyID    = "ANPA"
)

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newUniqueID returns prefix followed by random base32 characters, n in
// all.
func newUniqueID(rand io.Reader, prefix string, n int) (string, error) {
	b := make([]byte, (n*5+7)/8)
	if _, err := io.ReadFull(rand, b); err != nil {
		return "", fmt.Errorf("read random id: %w", err)
	}
	return (prefix + idEncoding.EncodeToString(b))[:n], nil
}

// entityARN returns arn:aws:iam::ACCOUNT:KIND/PATH/NAME (path "/" or
// "/a/b/").
func (is *iamService) entityARN(kind, path, name string) string {
	return "arn:aws:iam::" + is.s.accountID + ":" + kind + path + name
}
