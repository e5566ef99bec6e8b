package server

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Import limits (AWS KMS's).
const (
	importTokenLifetime = 24 * time.Hour
	maxValidToAhead     = 365 * 24 * time.Hour
	maxWrappedMaterial  = 4096
	maxImportToken      = 4096
)

// GetParametersForImport makes an RSA wrapping key pair for importing
// material into an EXTERNAL key. The private key is stored wrapped under
// the root key through the log, so any node can complete the import.
func (s *Server) GetParametersForImport(ctx context.Context, req *kmsv1.GetParametersForImportRequest) (*kmsv1.GetParametersForImportResponse, error) {
	alg, spec := req.GetWrappingAlgorithm(), req.GetWrappingKeySpec()
	if err := validateWrapping(alg, spec); err != nil {
		return nil, err
	}
	k, err := s.externalKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	priv, err := envelope.GenerateWrappingKey(s.rand, spec)
	if err != nil {
		return nil, err
	}
	p, err := s.importParams(k.ID, alg, spec, priv)
	if err != nil {
		return nil, err
	}
	if err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpAddImportParams, Time: p.CreationDate, KeyID: k.ID, ImportParams: p}); err != nil {
		return nil, err
	}
	kid, _ := envelope.ParseKeyID(k.ID)
	var wid [16]byte
	hex.Decode(wid[:], []byte(p.WrappingKeyID))
	token, err := envelope.SealImportToken(s.rand, s.rootKey, envelope.ImportToken{KeyID: kid, WrappingKeyID: wid,
		Algorithm: alg, Spec: spec, ValidTo: p.ValidTo})
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetParametersForImportResponse{KeyId: s.keyARN(k.ID), ImportToken: token, PublicKey: p.PublicKey,
		ParametersValidTo: timestamp(p.ValidTo)}, nil
}

func validateWrapping(alg, spec string) error {
	switch alg {
	case envelope.WrapRSAESOAEPSHA1, envelope.WrapRSAESOAEPSHA256, envelope.WrapRSAAESKeyWrapSHA256:
	default:
		return validationError("1 validation error detected: Value '%s' at 'wrappingAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, RSA_AES_KEY_WRAP_SHA_256]", alg)
	}
	switch spec {
	case "RSA_2048", "RSA_3072", "RSA_4096":
	default:
		return validationError("1 validation error detected: Value '%s' at 'wrappingKeySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096]", spec)
	}
	return nil
}

// importParams wraps a new wrapping key pair for storage.
func (s *Server) importParams(keyID, alg, spec string, priv *rsa.PrivateKey) (*keystore.ImportParams, error) {
	var wid [16]byte
	if _, err := io.ReadFull(s.rand, wid[:]); err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	wrapped, err := envelope.WrapBytes(s.rand, s.rootKey, der, importKeyAAD(hex.EncodeToString(wid[:])))
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC()
	return &keystore.ImportParams{WrappingKeyID: hex.EncodeToString(wid[:]), KeyID: keyID, Algorithm: alg, Spec: spec,
		WrappedPrivateKey: wrapped, PublicKey: pub, CreationDate: now, ValidTo: now.Add(importTokenLifetime).Truncate(time.Second)}, nil
}

func importKeyAAD(wrappingKeyID string) []byte {
	return []byte("kmsd/v1/import-key/" + wrappingKeyID)
}

// externalKey resolves a key id or ARN to an EXTERNAL key that is not
// pending deletion.
func (s *Server) externalKey(param string) (*keystore.Key, error) {
	k, err := s.resolveKey(param, keyOnly)
	if err != nil {
		return nil, err
	}
	if k.Origin != keystore.OriginExternal {
		return nil, unsupported("%s has %s key material; only EXTERNAL keys take imported material.", s.keyARN(k.ID), k.Origin)
	}
	if k.State == keystore.PendingDeletion {
		return nil, s.stateError(k.ID)
	}
	return k, nil
}

// ImportKeyMaterial imports key material wrapped with the public key of
// GetParametersForImport.
func (s *Server) ImportKeyMaterial(ctx context.Context, req *kmsv1.ImportKeyMaterialRequest) (*kmsv1.ImportKeyMaterialResponse, error) {
	model, validTo, err := s.validateImport(req)
	if err != nil {
		return nil, err
	}
	k, err := s.externalKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	material, err := s.unwrapImport(k.ID, req.GetImportToken(), req.GetEncryptedKeyMaterial())
	if err != nil {
		return nil, err
	}
	mid := material.MaterialID()
	if want := req.GetKeyMaterialId(); want != "" && want != mid.String() {
		return nil, newAPIError(codes.InvalidArgument, excIncorrectMaterial, "The key material does not match KeyMaterialId %s.", want)
	}
	kid, _ := envelope.ParseKeyID(k.ID)
	wrapped, err := envelope.WrapKey(s.rand, s.rootKey, material, wrapAAD(kid, mid))
	if err != nil {
		return nil, err
	}
	m := &keystore.Mutation{Op: keystore.OpImportKeyMaterial, Time: s.now().UTC(), KeyID: k.ID, ImportType: req.GetImportType(),
		Version: &keystore.Version{MaterialID: mid.String(), Wrapped: wrapped, ExpirationModel: model, ValidTo: validTo,
			Description: req.GetKeyMaterialDescription()}}
	err = s.propose(ctx, m)
	switch {
	case errors.Is(err, keystore.ErrIncorrectMaterial):
		return nil, newAPIError(codes.InvalidArgument, excIncorrectMaterial,
			"The key material in the request is not the key material previously imported into %s.", s.keyARN(k.ID))
	case errors.Is(err, keystore.ErrInvalidState):
		return nil, s.stateError(k.ID)
	case err != nil:
		return nil, err
	}
	return &kmsv1.ImportKeyMaterialResponse{KeyId: s.keyARN(k.ID), KeyMaterialId: mid.String()}, nil
}

func (s *Server) validateImport(req *kmsv1.ImportKeyMaterialRequest) (string, time.Time, error) {
	switch {
	case len(req.GetImportToken()) == 0 || len(req.GetImportToken()) > maxImportToken:
		return "", time.Time{}, validationError("ImportToken must be 1 to %d bytes.", maxImportToken)
	case len(req.GetEncryptedKeyMaterial()) == 0 || len(req.GetEncryptedKeyMaterial()) > maxWrappedMaterial:
		return "", time.Time{}, validationError("EncryptedKeyMaterial must be 1 to %d bytes.", maxWrappedMaterial)
	}
	switch t := req.GetImportType(); t {
	case "", keystore.ImportNewMaterial, keystore.ImportExistingMaterial:
	default:
		return "", time.Time{}, validationError("1 validation error detected: Value '%s' at 'importType' failed to satisfy constraint: Member must satisfy enum value set: [NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL]", t)
	}
	model := req.GetExpirationModel()
	if model == "" {
		model = keystore.MaterialDoesNotExpire
		if req.GetValidTo() != nil {
			model = keystore.MaterialExpires
		}
	}
	switch model {
	case keystore.MaterialDoesNotExpire:
		if req.GetValidTo() != nil {
			return "", time.Time{}, validationError("ValidTo is not allowed with ExpirationModel KEY_MATERIAL_DOES_NOT_EXPIRE.")
		}
		return model, time.Time{}, nil
	case keystore.MaterialExpires:
		validTo := req.GetValidTo().AsTime().UTC()
		now := s.now()
		if req.GetValidTo() == nil || !validTo.After(now) || validTo.After(now.Add(maxValidToAhead)) {
			return "", time.Time{}, validationError("ValidTo must be in the future and at most 365 days ahead.")
		}
		return model, validTo, nil
	}
	return "", time.Time{}, validationError("1 validation error detected: Value '%s' at 'expirationModel' failed to satisfy constraint: Member must satisfy enum value set: [KEY_MATERIAL_EXPIRES, KEY_MATERIAL_DOES_NOT_EXPIRE]", model)
}

// unwrapImport checks the import token and unwraps the material with the
// stored wrapping key. Every failure to unwrap is the same
// InvalidCiphertextException.
func (s *Server) unwrapImport(keyID string, token, wrapped []byte) (envelope.Key, error) {
	tok, err := envelope.OpenImportToken(s.rootKey, token)
	if err != nil || tok.KeyID.String() != keyID {
		return envelope.Key{}, newAPIError(codes.InvalidArgument, excInvalidImportToken, "The import token is not valid for this key.")
	}
	if s.now().After(tok.ValidTo) {
		return envelope.Key{}, newAPIError(codes.InvalidArgument, excExpiredImportToken, "The import token expired at %s.", tok.ValidTo.Format(time.RFC3339))
	}
	wid := hex.EncodeToString(tok.WrappingKeyID[:])
	p, err := s.store.ImportParams(wid)
	if err != nil || p.KeyID != keyID {
		return envelope.Key{}, newAPIError(codes.InvalidArgument, excInvalidImportToken, "The import token is not valid for this key.")
	}
	der, err := envelope.UnwrapBytes(s.rootKey, p.WrappedPrivateKey, importKeyAAD(wid))
	if err != nil {
		return envelope.Key{}, errCorruptMaterial
	}
	defer clear(der)
	priv, err := x509.ParsePKCS8PrivateKey(der)
	rsaKey, ok := priv.(*rsa.PrivateKey)
	if err != nil || !ok {
		return envelope.Key{}, errCorruptMaterial
	}
	material, err := envelope.UnwrapImportedKey(rsaKey, tok.Algorithm, wrapped)
	if err != nil {
		return envelope.Key{}, errInvalidWrappedMaterial
	}
	return material, nil
}

// DeleteImportedKeyMaterial deletes a key's imported material; the key
// waits in PendingImport for the same material.
func (s *Server) DeleteImportedKeyMaterial(ctx context.Context, req *kmsv1.DeleteImportedKeyMaterialRequest) (*kmsv1.DeleteImportedKeyMaterialResponse, error) {
	k, err := s.externalKey(req.GetKeyId())
	if err != nil {
		return nil, err
	}
	mid := req.GetKeyMaterialId()
	if mid == "" {
		if cur, ok := k.Current(); ok {
			mid = cur.MaterialID
		}
	}
	err = s.propose(ctx, &keystore.Mutation{Op: keystore.OpDeleteImportedKeyMaterial, Time: s.now().UTC(), KeyID: k.ID, MaterialID: mid})
	if errors.Is(err, keystore.ErrNotFound) {
		return nil, newAPIError(codes.FailedPrecondition, excInvalidState, "%s has no imported key material %s to delete.", s.keyARN(k.ID), mid)
	}
	if err != nil {
		return nil, err
	}
	return &kmsv1.DeleteImportedKeyMaterialResponse{KeyId: s.keyARN(k.ID), KeyMaterialId: mid}, nil
}

// expireDue deletes imported material whose ValidTo has passed.
func (s *Server) expireDue(ctx context.Context, now time.Time) {
	for _, due := range s.store.DueForExpiry(now) {
		err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpExpireKeyMaterial, Time: now, KeyID: due.KeyID,
			MaterialID: due.MaterialID, DueDate: due.ValidTo})
		switch {
		case err == nil:
			s.log.Info("imported key material expired and was deleted", "key_id", due.KeyID, "key_material_id", due.MaterialID)
			s.recordServiceEvent(ctx, "DeleteExpiredKeyMaterial", due.KeyID, map[string]any{
				"keyMaterialId": due.MaterialID, "validTo": due.ValidTo.UTC().Format(time.RFC3339)})
		case errors.Is(err, keystore.ErrInvalidState), errors.Is(err, keystore.ErrNotFound):
		default:
			s.log.Warn("expiring imported key material failed; will retry", "key_id", due.KeyID, "err", err)
		}
	}
}
