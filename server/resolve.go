package server

import (
	"errors"
	"regexp"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
)

const (
	aliasPrefix         = "alias/"
	reservedAliasPrefix = "alias/aws/"
	maxKeyIDLength      = 2048
	maxAliasNameLength  = 256
)

var aliasNameRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)

// keyARN returns the ARN of a key.
func (s *Server) keyARN(id string) string {
	return s.arnPrefix + "key/" + id
}

// aliasARN returns the ARN of an alias ("alias/..." name).
func (s *Server) aliasARN(name string) string {
	return s.arnPrefix + name
}

// aliasMode says whether a KeyId parameter may name an alias.
type aliasMode bool

const (
	allowAlias aliasMode = true
	keyOnly    aliasMode = false
)

// resolveKey finds the key a KeyId parameter names: a key id, a key ARN, and
// where mode allows it, an alias name or an alias ARN.
func (s *Server) resolveKey(param string, mode aliasMode) (*keystore.Key, error) {
	if param == "" {
		return nil, validationError("KeyId is required.")
	}
	if len(param) > maxKeyIDLength {
		return nil, validationError("KeyId must be at most %d characters long.", maxKeyIDLength)
	}
	rest := param
	isARN := strings.HasPrefix(param, "arn:")
	if isARN {
		if !strings.HasPrefix(param, s.arnPrefix) {
			return nil, notFound("Invalid arn %s", param)
		}
		rest = strings.TrimPrefix(param, s.arnPrefix)
	}
	switch {
	case strings.HasPrefix(rest, aliasPrefix):
		if mode == keyOnly {
			return nil, notFound("Invalid keyId %s: specify a key id or key ARN", param)
		}
		return s.keyByAlias(rest)
	case isARN && strings.HasPrefix(rest, "key/"):
		return s.keyByID(strings.TrimPrefix(rest, "key/"), param)
	case isARN:
		return nil, notFound("Invalid arn %s", param)
	default:
		return s.keyByID(rest, param)
	}
}

func (s *Server) keyByID(id, param string) (*keystore.Key, error) {
	kid, err := envelope.ParseKeyID(id)
	if err != nil {
		return nil, notFound("Invalid keyId %s", param)
	}
	k, err := s.store.Key(kid.String())
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, notFound("Key '%s' does not exist", s.keyARN(kid.String()))
	}
	return k, err
}

func (s *Server) keyByAlias(name string) (*keystore.Key, error) {
	a, err := s.store.Alias(name)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, notFound("Alias %s is not found.", s.aliasARN(name))
	}
	if err != nil {
		return nil, err
	}
	k, err := s.store.Key(a.TargetKeyID)
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, notFound("Alias %s is not found.", s.aliasARN(name))
	}
	return k, err
}

// validateAliasName applies AWS's alias name rules. Reserved names are
// refused only when reserved is false (creating or updating an alias).
func validateAliasName(name string) error {
	switch {
	case name == "":
		return validationError("AliasName is required.")
	case len(name) > maxAliasNameLength:
		return newAPIError(codes.InvalidArgument, excValidation,
			"1 validation error detected: Value at 'aliasName' failed to satisfy constraint: Member must have length less than or equal to %d", maxAliasNameLength)
	case !aliasNameRE.MatchString(name):
		return newAPIError(codes.InvalidArgument, excValidation,
			"1 validation error detected: Value '%s' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^alias/[a-zA-Z0-9/_-]+$", name)
	}
	return nil
}

// validateNewAliasName also refuses the reserved alias/aws/ prefix.
func validateNewAliasName(name string) error {
	if err := validateAliasName(name); err != nil {
		return err
	}
	if strings.HasPrefix(name, reservedAliasPrefix) {
		return newAPIError(codes.InvalidArgument, excInvalidAlias,
			"Alias %s must not begin with %s: the prefix is reserved", name, reservedAliasPrefix)
	}
	return nil
}
