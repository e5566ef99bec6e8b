package server

import (
	"context"
	"errors"
	"slices"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Rotation limits (AWS KMS's).
const (
	minRotationPeriodDays     = 90
	maxRotationPeriodDays     = 2560
	defaultRotationPeriodDays = 365
	maxListRotationsLimit     = 1000
	defaultListRotationsLimit = 100
)

// EnableKeyRotation turns on automatic rotation of a key's material.
func (s *Server) EnableKeyRotation(ctx context.Context, req *kmsv1.EnableKeyRotationRequest) (*kmsv1.EnableKeyRotationResponse, error) {
	days := req.GetRotationPeriodInDays()
	if days == 0 {
		days = defaultRotationPeriodDays
	}
	if days < minRotationPeriodDays || days > maxRotationPeriodDays {
		return nil, validationError("1 validation error detected: Value '%d' at 'rotationPeriodInDays' failed to satisfy constraint: Member must have value between %d and %d", days, minRotationPeriodDays, maxRotationPeriodDays)
	}
	m := &keystore.Mutation{Op: keystore.OpEnableKeyRotation, RotationPeriodInDays: days}
	if err := s.mutateRotation(ctx, req.GetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.EnableKeyRotationResponse{}, nil
}

// DisableKeyRotation turns automatic rotation off.
func (s *Server) DisableKeyRotation(ctx context.Context, req *kmsv1.DisableKeyRotationRequest) (*kmsv1.DisableKeyRotationResponse, error) {
	if err := s.mutateRotation(ctx, req.GetKeyId(), &keystore.Mutation{Op: keystore.OpDisableKeyRotation}); err != nil {
		return nil, err
	}
	return &kmsv1.DisableKeyRotationResponse{}, nil
}

// mutateRotation checks what AWS checks before changing a rotation
// setting: the key must be an Enabled key with AWS_KMS material.
func (s *Server) mutateRotation(ctx context.Context, param string, m *keystore.Mutation) error {
	k, err := s.resolveKey(param, keyOnly)
	if err != nil {
		return err
	}
	if k.Origin != keystore.OriginAWSKMS {
		return unsupported("Automatic rotation is not supported for keys with %s key material.", k.Origin)
	}
	if err := s.usable(k); err != nil {
		return err
	}
	return s.mutateKey(ctx, k.ID, m)
}

// GetKeyRotationStatus reports a key's automatic rotation setting.
func (s *Server) GetKeyRotationStatus(ctx context.Context, req *kmsv1.GetKeyRotationStatusRequest) (*kmsv1.GetKeyRotationStatusResponse, error) {
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	if k.State == keystore.PendingDeletion {
		return nil, s.stateError(k.ID)
	}
	resp := &kmsv1.GetKeyRotationStatusResponse{KeyId: s.keyARN(k.ID), KeyRotationEnabled: k.RotationEnabled,
		OnDemandRotationStartDate: timestamp(k.OnDemandRotationStartDate)}
	if k.RotationEnabled {
		resp.RotationPeriodInDays = k.RotationPeriodInDays
		resp.NextRotationDate = timestamp(k.NextRotationDate)
	}
	return resp, nil
}

// RotateKeyOnDemand rotates a key now. A key with AWS_KMS material gets new
// material; a key with imported material switches to the material
// imported beforehand with ImportType NEW_KEY_MATERIAL.
func (s *Server) RotateKeyOnDemand(ctx context.Context, req *kmsv1.RotateKeyOnDemandRequest) (*kmsv1.RotateKeyOnDemandResponse, error) {
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	if err := s.usable(k); err != nil {
		return nil, err
	}
	cur, ok := k.Current()
	if !ok {
		return nil, s.stateError(k.ID)
	}
	m := &keystore.Mutation{Op: keystore.OpRotateKey, KeyID: k.ID, Time: s.now().UTC(),
		RotationType: keystore.RotationOnDemand, FromMaterialID: cur.MaterialID}
	if k.Origin == keystore.OriginAWSKMS {
		if m.Version, err = s.newKeyVersion(k.ID); err != nil {
			return nil, err
		}
	} else if !hasPending(k) {
		return nil, newAPIError(codes.FailedPrecondition, excInvalidState,
			"%s has no key material pending rotation: import it first with ImportType NEW_KEY_MATERIAL", s.keyARN(k.ID))
	}
	err = s.propose(ctx, m)
	switch {
	case errors.Is(err, keystore.ErrLimitExceeded):
		return nil, newAPIError(codes.ResourceExhausted, excLimitExceeded, "%s has reached the limit of %d on-demand rotations", s.keyARN(k.ID), keystore.MaxOnDemandRotations)
	case errors.Is(err, keystore.ErrInvalidState):
		return nil, newAPIError(codes.FailedPrecondition, excConflict, "%s changed while it was being rotated; retry the request", s.keyARN(k.ID))
	case err != nil:
		return nil, err
	}
	return &kmsv1.RotateKeyOnDemandResponse{KeyId: s.keyARN(k.ID)}, nil
}

func hasPending(k *keystore.Key) bool {
	return slices.ContainsFunc(k.Versions, func(v keystore.Version) bool { return v.State == keystore.MaterialPendingRotation })
}

// newKeyVersion makes new wrapped material for the key with the given id.
func (s *Server) newKeyVersion(id string) (*keystore.Version, error) {
	kid, err := envelope.ParseKeyID(id)
	if err != nil {
		return nil, err
	}
	v, err := s.newVersion(kid)
	return &v, err
}

// ListKeyRotations lists a key's rotations, oldest first; with
// IncludeKeyMaterial ALL_KEY_MATERIAL also its first material.
func (s *Server) ListKeyRotations(ctx context.Context, req *kmsv1.ListKeyRotationsRequest) (*kmsv1.ListKeyRotationsResponse, error) {
	limit, err := pageLimit(req.GetLimit(), defaultListRotationsLimit, maxListRotationsLimit)
	if err != nil {
		return nil, err
	}
	all := false
	switch req.GetIncludeKeyMaterial() {
	case "", "ROTATIONS_ONLY":
	case "ALL_KEY_MATERIAL":
		all = true
	default:
		return nil, validationError("1 validation error detected: Value '%s' at 'includeKeyMaterial' failed to satisfy constraint: Member must satisfy enum value set: [ALL_KEY_MATERIAL, ROTATIONS_ONLY]", req.GetIncludeKeyMaterial())
	}
	k, err := s.resolveKey(req.GetKeyId(), keyOnly)
	if err != nil {
		return nil, err
	}
	var entries []*kmsv1.RotationsListEntry
	for _, m := range s.keyMaterials(k) {
		if m.GetRotationType() == "" && !all {
			continue
		}
		entries = append(entries, &kmsv1.RotationsListEntry{KeyId: s.keyARN(k.ID), RotationDate: m.GetCreationDate(),
			RotationType: m.GetRotationType(), KeyMaterialId: m.GetKeyMaterialId(), KeyMaterialState: m.GetKeyMaterialState(),
			EncryptionCount: m.GetEncryptionCount()})
	}
	return pageRotations(entries, req.GetMarker(), limit)
}

func pageRotations(entries []*kmsv1.RotationsListEntry, marker string, limit int) (*kmsv1.ListKeyRotationsResponse, error) {
	start := 0
	if marker != "" {
		i := slices.IndexFunc(entries, func(e *kmsv1.RotationsListEntry) bool { return e.GetKeyMaterialId() == marker })
		if i < 0 {
			return nil, newAPIError(codes.InvalidArgument, excInvalidMarker, "The marker is not valid.")
		}
		start = i
	}
	end := min(start+limit, len(entries))
	resp := &kmsv1.ListKeyRotationsResponse{Rotations: entries[start:end]}
	if end < len(entries) {
		resp.NextMarker, resp.Truncated = entries[end].GetKeyMaterialId(), true
	}
	return resp, nil
}

// keyMaterials describes every version of k, oldest first, with the
// encryptions counted so far (committed counts plus this node's unreported
// ones).
func (s *Server) keyMaterials(k *keystore.Key) []*kmsv1.KeyMaterial {
	cur, _ := k.Current()
	out := make([]*kmsv1.KeyMaterial, 0, len(k.Versions))
	for _, v := range k.Versions {
		state := "NON_CURRENT"
		switch {
		case v.State == keystore.MaterialPendingRotation:
			state = keystore.MaterialPendingRotation
		case v.MaterialID == cur.MaterialID:
			state = "CURRENT"
		}
		out = append(out, &kmsv1.KeyMaterial{KeyMaterialId: v.MaterialID, CreationDate: timestamp(v.CreationDate),
			RotationType: v.RotationType, KeyMaterialState: state,
			EncryptionCount: int64(v.EncryptionCount + s.usage.pending(k.ID, v.MaterialID))})
	}
	return out
}
