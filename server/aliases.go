package server

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

const (
	maxListAliasesLimit     = 100
	defaultListAliasesLimit = 50
)

// CreateAlias creates an alias for a key.
func (s *Server) CreateAlias(ctx context.Context, req *kmsv1.CreateAliasRequest) (*kmsv1.CreateAliasResponse, error) {
	name := req.GetAliasName()
	if err := validateNewAliasName(name); err != nil {
		return nil, err
	}
	m := &keystore.Mutation{Op: keystore.OpCreateAlias, AliasName: name}
	if err := s.mutateAlias(ctx, req.GetTargetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.CreateAliasResponse{}, nil
}

// UpdateAlias points an existing alias at another key.
func (s *Server) UpdateAlias(ctx context.Context, req *kmsv1.UpdateAliasRequest) (*kmsv1.UpdateAliasResponse, error) {
	name := req.GetAliasName()
	if err := validateNewAliasName(name); err != nil {
		return nil, err
	}
	m := &keystore.Mutation{Op: keystore.OpUpdateAlias, AliasName: name}
	if err := s.mutateAlias(ctx, req.GetTargetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.UpdateAliasResponse{}, nil
}

// DeleteAlias deletes an alias; the key is not affected.
func (s *Server) DeleteAlias(ctx context.Context, req *kmsv1.DeleteAliasRequest) (*kmsv1.DeleteAliasResponse, error) {
	name := req.GetAliasName()
	if err := validateNewAliasName(name); err != nil {
		return nil, err
	}
	err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpDeleteAlias, Time: s.now().UTC(), AliasName: name})
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, notFound("Alias %s is not found.", s.aliasARN(name))
	}
	if err != nil {
		return nil, err
	}
	return &kmsv1.DeleteAliasResponse{}, nil
}

// mutateAlias resolves the target key (a key id or key ARN, as AWS
// requires) and commits m.
func (s *Server) mutateAlias(ctx context.Context, target string, m *keystore.Mutation) error {
	k, err := s.resolveKey(target, keyOnly)
	if err != nil {
		return err
	}
	m.KeyID, m.Time = k.ID, s.now().UTC()
	err = s.propose(ctx, m)
	switch {
	case errors.Is(err, keystore.ErrAlreadyExists):
		return newAPIError(codes.AlreadyExists, excAlreadyExists, "An alias with the name %s already exists", s.aliasARN(m.AliasName))
	case errors.Is(err, keystore.ErrInvalidState):
		return s.stateError(k.ID)
	case errors.Is(err, keystore.ErrLimitExceeded):
		return newAPIError(codes.ResourceExhausted, excLimitExceeded, "Key %s has the maximum of %d aliases", s.keyARN(k.ID), keystore.MaxAliasesPerKey)
	case errors.Is(err, keystore.ErrNotFound) && m.Op == keystore.OpUpdateAlias:
		if _, aerr := s.store.Alias(m.AliasName); aerr != nil {
			return notFound("Alias %s is not found.", s.aliasARN(m.AliasName))
		}
		return notFound("Key '%s' does not exist", s.keyARN(k.ID))
	case errors.Is(err, keystore.ErrNotFound):
		return notFound("Key '%s' does not exist", s.keyARN(k.ID))
	}
	return err
}

// ListAliases lists aliases, of one key when KeyId is set.
func (s *Server) ListAliases(ctx context.Context, req *kmsv1.ListAliasesRequest) (*kmsv1.ListAliasesResponse, error) {
	limit, err := pageLimit(req.GetLimit(), defaultListAliasesLimit, maxListAliasesLimit)
	if err != nil {
		return nil, err
	}
	keyID := ""
	if req.GetKeyId() != "" {
		k, err := s.resolveKey(req.GetKeyId(), keyOnly)
		if err != nil {
			return nil, err
		}
		keyID = k.ID
	}
	aliases, next, err := s.store.Aliases(keyID, limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListAliasesResponse{NextMarker: next, Truncated: next != ""}
	for _, a := range aliases {
		resp.Aliases = append(resp.Aliases, &kmsv1.AliasListEntry{
			AliasName: a.Name, AliasArn: s.aliasARN(a.Name), TargetKeyId: a.TargetKeyID,
			CreationDate: timestamp(a.CreationDate), LastUpdatedDate: timestamp(a.LastUpdatedDate),
		})
	}
	return resp, nil
}
