package server

import (
	"context"
	"io"
	"strings"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Limits of the cryptographic operations (AWS KMS's).
const (
	maxPlaintextBytes  = 4096
	maxCiphertextBytes = 6144
	maxDataKeyBytes    = 1024
	maxRandomBytes     = 1024
	maxGrantTokens     = 10
	maxGrantTokenBytes = 8192
)

// Encrypt encrypts up to 4 KiB under the key's current version.
func (s *Server) Encrypt(ctx context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	if n := len(req.GetPlaintext()); n < 1 || n > maxPlaintextBytes {
		return nil, validationError("1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and %d", maxPlaintextBytes)
	}
	if err := validateCryptoParams(req.GetEncryptionAlgorithm(), req.GetGrantTokens(), req.GetEncryptionContext()); err != nil {
		return nil, err
	}
	k, m, err := s.encryptionKey(ctx, req.GetKeyId())
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, errDryRun
	}
	blob, err := s.seal(k, m, req.GetPlaintext(), req.GetEncryptionContext())
	if err != nil {
		return nil, err
	}
	return &kmsv1.EncryptResponse{CiphertextBlob: blob, KeyId: s.keyARN(k.ID), EncryptionAlgorithm: algSymmetric}, nil
}

// Decrypt decrypts a ciphertext made by Encrypt, GenerateDataKey or
// ReEncrypt. The key comes from the ciphertext; a KeyId in the request
// must name the same key.
func (s *Server) Decrypt(ctx context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	if err := validateCryptoParams(req.GetEncryptionAlgorithm(), req.GetGrantTokens(), req.GetEncryptionContext()); err != nil {
		return nil, err
	}
	k, pt, mid, err := s.open(req.GetCiphertextBlob(), req.GetKeyId(), req.GetEncryptionContext(), "KeyId")
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		clear(pt)
		return nil, errDryRun
	}
	return &kmsv1.DecryptResponse{KeyId: s.keyARN(k.ID), Plaintext: pt, EncryptionAlgorithm: algSymmetric, KeyMaterialId: mid}, nil
}

// ReEncrypt decrypts a ciphertext and encrypts the plaintext under another
// key (or the newest version of the same key) without the plaintext ever
// leaving the server.
func (s *Server) ReEncrypt(ctx context.Context, req *kmsv1.ReEncryptRequest) (*kmsv1.ReEncryptResponse, error) {
	if err := validateCryptoParams(req.GetSourceEncryptionAlgorithm(), req.GetGrantTokens(), req.GetSourceEncryptionContext()); err != nil {
		return nil, err
	}
	if err := validateCryptoParams(req.GetDestinationEncryptionAlgorithm(), nil, req.GetDestinationEncryptionContext()); err != nil {
		return nil, err
	}
	if req.GetDestinationKeyId() == "" {
		return nil, validationError("DestinationKeyId is required.")
	}
	src, pt, srcMID, err := s.open(req.GetCiphertextBlob(), req.GetSourceKeyId(), req.GetSourceEncryptionContext(), "SourceKeyId")
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	dst, m, err := s.encryptionKey(ctx, req.GetDestinationKeyId())
	if err != nil {
		return nil, err
	}
	if req.GetDryRun() {
		return nil, errDryRun
	}
	blob, err := s.seal(dst, m, pt, req.GetDestinationEncryptionContext())
	if err != nil {
		return nil, err
	}
	return &kmsv1.ReEncryptResponse{
		CiphertextBlob: blob, SourceKeyId: s.keyARN(src.ID), KeyId: s.keyARN(dst.ID),
		SourceEncryptionAlgorithm: algSymmetric, DestinationEncryptionAlgorithm: algSymmetric,
		SourceKeyMaterialId: srcMID, DestinationKeyMaterialId: m.materialID.String(),
	}, nil
}

// GenerateDataKey returns a fresh data key in plaintext and encrypted under
// the key.
func (s *Server) GenerateDataKey(ctx context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	k, m, pt, blob, err := s.generateDataKey(ctx, req.GetKeyId(), req.GetNumberOfBytes(), req.GetKeySpec(), req.GetGrantTokens(), req.GetEncryptionContext(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	return &kmsv1.GenerateDataKeyResponse{CiphertextBlob: blob, Plaintext: pt, KeyId: s.keyARN(k.ID), KeyMaterialId: m.materialID.String()}, nil
}

// GenerateDataKeyWithoutPlaintext is GenerateDataKey without the plaintext
// copy in the response.
func (s *Server) GenerateDataKeyWithoutPlaintext(ctx context.Context, req *kmsv1.GenerateDataKeyWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyWithoutPlaintextResponse, error) {
	k, m, pt, blob, err := s.generateDataKey(ctx, req.GetKeyId(), req.GetNumberOfBytes(), req.GetKeySpec(), req.GetGrantTokens(), req.GetEncryptionContext(), req.GetDryRun())
	if err != nil {
		return nil, err
	}
	clear(pt)
	return &kmsv1.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: blob, KeyId: s.keyARN(k.ID), KeyMaterialId: m.materialID.String()}, nil
}

// GenerateRandom returns random bytes from the server's CSPRNG.
func (s *Server) GenerateRandom(ctx context.Context, req *kmsv1.GenerateRandomRequest) (*kmsv1.GenerateRandomResponse, error) {
	n := req.GetNumberOfBytes()
	if n < 1 || n > maxRandomBytes {
		return nil, validationError("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and %d", n, maxRandomBytes)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return nil, err
	}
	return &kmsv1.GenerateRandomResponse{Plaintext: b}, nil
}

func (s *Server) generateDataKey(ctx context.Context, keyID string, nbytes int32, spec string, grants []string, ec map[string]string, dryRun bool) (*keystore.Key, *material, []byte, []byte, error) {
	n, err := dataKeySize(nbytes, spec)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if err := validateCryptoParams("", grants, ec); err != nil {
		return nil, nil, nil, nil, err
	}
	k, m, err := s.encryptionKey(ctx, keyID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if dryRun {
		return nil, nil, nil, nil, errDryRun
	}
	pt := make([]byte, n)
	if _, err := io.ReadFull(s.rand, pt); err != nil {
		return nil, nil, nil, nil, err
	}
	blob, err := s.seal(k, m, pt, ec)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return k, m, pt, blob, nil
}

// seal encrypts under the current material of k and counts the use.
func (s *Server) seal(k *keystore.Key, m *material, pt []byte, ec map[string]string) ([]byte, error) {
	blob, err := envelope.Seal(s.rand, m.key, m.keyID, pt, ec)
	if err != nil {
		return nil, err
	}
	s.usage.add(k.ID, m.materialKey)
	return blob, nil
}

func dataKeySize(n int32, spec string) (int, error) {
	switch {
	case n != 0 && spec != "":
		return 0, validationError("Specify either NumberOfBytes or KeySpec, not both.")
	case n == 0 && spec == "":
		return 0, validationError("Please specify either number of bytes or key spec.")
	case spec == "AES_256":
		return 32, nil
	case spec == "AES_128":
		return 16, nil
	case spec != "":
		return 0, validationError("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]", spec)
	case n < 1 || n > maxDataKeyBytes:
		return 0, validationError("1 validation error detected: Value '%d' at 'numberOfBytes' failed to satisfy constraint: Member must have value between 1 and %d", n, maxDataKeyBytes)
	}
	return int(n), nil
}

// encryptionKey resolves keyID (aliases allowed) to a usable key and the
// material of its current version.
func (s *Server) encryptionKey(ctx context.Context, keyID string) (*keystore.Key, *material, error) {
	for attempt := 0; ; attempt++ {
		k, m, err := s.currentMaterial(keyID)
		if err != nil || s.usageMax == 0 {
			return k, m, err
		}
		ok, err := s.takeUse(ctx, k, m)
		if err != nil || ok {
			return k, m, err
		}
		if attempt == 3 {
			return nil, nil, errUsageExhausted
		}
		if err := s.rotateExhausted(ctx, k, m.materialKey); err != nil {
			return nil, nil, err
		}
	}
}

// currentMaterial resolves keyID to a usable key and its current material.
func (s *Server) currentMaterial(keyID string) (*keystore.Key, *material, error) {
	k, err := s.resolveKey(keyID, allowAlias)
	if err != nil {
		return nil, nil, err
	}
	if err := s.usable(k); err != nil {
		return nil, nil, err
	}
	v, ok := k.Current()
	if !ok {
		return nil, nil, s.stateError(k.ID)
	}
	m, err := s.materials.get(k, v)
	if err != nil {
		return nil, nil, err
	}
	return k, m, nil
}

// open decrypts blob. The key comes from the ciphertext header; keyParam,
// when set, must name the same key.
func (s *Server) open(blob []byte, keyParam string, ec map[string]string, paramName string) (*keystore.Key, []byte, string, error) {
	if n := len(blob); n < 1 || n > maxCiphertextBytes {
		return nil, nil, "", validationError("1 validation error detected: Value at 'ciphertextBlob' failed to satisfy constraint: Member must have length between 1 and %d", maxCiphertextBytes)
	}
	h, err := envelope.ParseHeader(blob)
	if err != nil {
		return nil, nil, "", err
	}
	k, err := s.keyByID(h.KeyID.String(), h.KeyID.String())
	if err != nil {
		return nil, nil, "", err
	}
	if keyParam != "" {
		want, err := s.resolveKey(keyParam, allowAlias)
		if err != nil {
			return nil, nil, "", err
		}
		if want.ID != k.ID {
			return nil, nil, "", newAPIError(codes.InvalidArgument, excIncorrectKey,
				"The key ID in the %s parameter does not identify the key that encrypted the ciphertext.", paramName)
		}
	}
	if err := s.usable(k); err != nil {
		return nil, nil, "", err
	}
	v, ok := k.Version(h.MaterialID.String())
	if !ok {
		return nil, nil, "", envelope.ErrDecrypt
	}
	if v.Deleted() {
		return nil, nil, "", newAPIError(codes.FailedPrecondition, excKeyUnavailable,
			"The key material %s of %s was deleted; import it again to decrypt.", v.MaterialID, s.keyARN(k.ID))
	}
	m, err := s.materials.get(k, v)
	if err != nil {
		return nil, nil, "", err
	}
	pt, err := envelope.Open(m.key, blob, ec)
	if err != nil {
		return nil, nil, "", envelope.ErrDecrypt
	}
	return k, pt, v.MaterialID, nil
}

// usable reports whether k's state allows cryptographic operations.
func (s *Server) usable(k *keystore.Key) error {
	switch k.State {
	case keystore.Enabled:
		return nil
	case keystore.Disabled:
		return newAPIError(codes.FailedPrecondition, excDisabled, "%s is disabled.", s.keyARN(k.ID))
	}
	return newAPIError(codes.FailedPrecondition, excInvalidState, "%s is %s", s.keyARN(k.ID), stateWords(k.State))
}

func validateCryptoParams(alg string, grants []string, ec map[string]string) error {
	switch alg {
	case "", algSymmetric:
	case "RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "SM2PKE":
		return newAPIError(codes.InvalidArgument, excInvalidKeyUsage, "The encryption algorithm %s is not valid for a SYMMETRIC_DEFAULT key.", alg)
	default:
		return validationError("1 validation error detected: Value '%s' at 'encryptionAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [SYMMETRIC_DEFAULT, RSAES_OAEP_SHA_1, RSAES_OAEP_SHA_256, SM2PKE]", alg)
	}
	if err := validateGrantTokens(grants); err != nil {
		return err
	}
	if err := envelope.ValidateContext(ec); err != nil {
		return validationError("Invalid EncryptionContext: %s", strings.TrimPrefix(err.Error(), "envelope: "))
	}
	return nil
}

func validateGrantTokens(grants []string) error {
	if len(grants) > maxGrantTokens {
		return validationError("1 validation error detected: Value at 'grantTokens' failed to satisfy constraint: Member must have length less than or equal to %d", maxGrantTokens)
	}
	for _, g := range grants {
		if g == "" || len(g) > maxGrantTokenBytes {
			return validationError("Each grant token must be 1 to %d characters long.", maxGrantTokenBytes)
		}
		if !validGrantTokenFormat(g) {
			return errInvalidGrantToken
		}
	}
	return nil
}
