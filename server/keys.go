package server

import (
	"context"
	"errors"
	"unicode/utf8"

	"google.golang.org/grpc/codes"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/iam"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Limits of key management parameters (AWS KMS's).
const (
	maxDescriptionLength = 8192
	minPendingWindowDays = 7
	maxPendingWindowDays = 30
	defaultPendingWindow = 30
	maxListKeysLimit     = 1000
	defaultListKeysLimit = 100
)

// CreateKey creates a key. AWS_KMS keys get fresh material and start
// Enabled; EXTERNAL keys start PendingImport.
func (s *Server) CreateKey(ctx context.Context, req *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error) {
	if err := validateCreateKey(req); err != nil {
		return nil, err
	}
	kid, err := envelope.NewKeyID(s.rand)
	if err != nil {
		return nil, err
	}
	policy := orDefault(req.GetPolicy(), iam.DefaultKeyPolicy(s.accountID))
	if req.GetPolicy() != "" {
		if err := s.checkKeyPolicy(ctx, kid.String(), policy, req.GetBypassPolicyLockoutSafetyCheck()); err != nil {
			return nil, err
		}
	}
	now := s.now().UTC()
	k := &keystore.Key{
		ID: kid.String(), Description: req.GetDescription(), Usage: usageEncryptDecrypt,
		Spec: specSymmetric, Origin: orDefault(req.GetOrigin(), keystore.OriginAWSKMS),
		State: keystore.PendingImport, CreationDate: now, Tags: sortedTags(toStoreTags(req.GetTags())),
		Policy: policy,
	}
	if k.Origin == keystore.OriginAWSKMS {
		v, err := s.newVersion(kid)
		if err != nil {
			return nil, err
		}
		k.State, k.Versions = keystore.Enabled, []keystore.Version{v}
	}
	if err := s.propose(ctx, &keystore.Mutation{Op: keystore.OpCreateKey, Time: now, Key: k}); err != nil {
		return nil, err
	}
	return &kmsv1.CreateKeyResponse{KeyMetadata: s.metadata(k)}, nil
}

func validateCreateKey(req *kmsv1.CreateKeyRequest) error {
	if err := validateDescription(req.GetDescription()); err != nil {
		return err
	}
	if err := validateTags(req.GetTags()); err != nil {
		return err
	}
	switch req.GetKeyUsage() {
	case "", usageEncryptDecrypt:
	case "SIGN_VERIFY", "GENERATE_VERIFY_MAC", "KEY_AGREEMENT":
		return unsupported("KeyUsage %s is not supported; kmsd serves ENCRYPT_DECRYPT keys.", req.GetKeyUsage())
	default:
		return validationError("1 validation error detected: Value '%s' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC, KEY_AGREEMENT]", req.GetKeyUsage())
	}
	if err := validateKeySpec(req.GetKeySpec(), req.GetCustomerMasterKeySpec()); err != nil {
		return err
	}
	switch req.GetOrigin() {
	case "", keystore.OriginAWSKMS, keystore.OriginExternal:
	case "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE":
		return unsupported("Origin %s is not supported.", req.GetOrigin())
	default:
		return validationError("1 validation error detected: Value '%s' at 'origin' failed to satisfy constraint: Member must satisfy enum value set: [AWS_KMS, EXTERNAL, AWS_CLOUDHSM, EXTERNAL_KEY_STORE]", req.GetOrigin())
	}
	switch {
	case req.GetMultiRegion():
		return unsupported("Multi-Region keys are not supported.")
	}
	return nil
}

func validateKeySpec(spec, cmkSpec string) error {
	if spec != "" && cmkSpec != "" {
		return validationError("You cannot specify both KeySpec and CustomerMasterKeySpec.")
	}
	spec = orDefault(spec, cmkSpec)
	switch spec {
	case "", specSymmetric:
		return nil
	case "RSA_2048", "RSA_3072", "RSA_4096", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
		"ECC_SECG_P256K1", "HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512", "SM2", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519":
		return unsupported("KeySpec %s is not supported; kmsd serves SYMMETRIC_DEFAULT keys.", spec)
	}
	return validationError("1 validation error detected: Value '%s' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set", spec)
}

func validateDescription(d string) error {
	if len(d) > maxDescriptionLength {
		return validationError("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to %d", maxDescriptionLength)
	}
	if !utf8.ValidString(d) {
		return validationError("Description must be valid UTF-8.")
	}
	return nil
}

// DescribeKey returns a key's metadata.
func (s *Server) DescribeKey(ctx context.Context, req *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	if err := validateGrantTokens(req.GetGrantTokens()); err != nil {
		return nil, err
	}
	k, err := s.resolveKey(req.GetKeyId(), allowAlias)
	if err != nil {
		return nil, err
	}
	return &kmsv1.DescribeKeyResponse{KeyMetadata: s.metadata(k)}, nil
}

// ListKeys lists keys, one page at a time.
func (s *Server) ListKeys(ctx context.Context, req *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	limit, err := pageLimit(req.GetLimit(), defaultListKeysLimit, maxListKeysLimit)
	if err != nil {
		return nil, err
	}
	keys, next, err := s.store.Keys(limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListKeysResponse{NextMarker: next, Truncated: next != ""}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, &kmsv1.KeyListEntry{KeyId: k.ID, KeyArn: s.keyARN(k.ID)})
	}
	return resp, nil
}

func pageLimit(limit int32, def, max int) (int, error) {
	if limit == 0 {
		return def, nil
	}
	if limit < 1 || int(limit) > max {
		return 0, validationError("1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d", limit, max)
	}
	return int(limit), nil
}

// UpdateKeyDescription replaces a key's description.
func (s *Server) UpdateKeyDescription(ctx context.Context, req *kmsv1.UpdateKeyDescriptionRequest) (*kmsv1.UpdateKeyDescriptionResponse, error) {
	if err := validateDescription(req.GetDescription()); err != nil {
		return nil, err
	}
	err := s.mutateKey(ctx, req.GetKeyId(), &keystore.Mutation{Op: keystore.OpUpdateDescription, Description: req.GetDescription()})
	if err != nil {
		return nil, err
	}
	return &kmsv1.UpdateKeyDescriptionResponse{}, nil
}

// EnableKey sets a key's state to Enabled.
func (s *Server) EnableKey(ctx context.Context, req *kmsv1.EnableKeyRequest) (*kmsv1.EnableKeyResponse, error) {
	if err := s.mutateKey(ctx, req.GetKeyId(), &keystore.Mutation{Op: keystore.OpEnableKey}); err != nil {
		return nil, err
	}
	return &kmsv1.EnableKeyResponse{}, nil
}

// DisableKey sets a key's state to Disabled.
func (s *Server) DisableKey(ctx context.Context, req *kmsv1.DisableKeyRequest) (*kmsv1.DisableKeyResponse, error) {
	if err := s.mutateKey(ctx, req.GetKeyId(), &keystore.Mutation{Op: keystore.OpDisableKey}); err != nil {
		return nil, err
	}
	return &kmsv1.DisableKeyResponse{}, nil
}

// ScheduleKeyDeletion puts a key in PendingDeletion; the service deletes
// it, with its material, once the window has passed.
func (s *Server) ScheduleKeyDeletion(ctx context.Context, req *kmsv1.ScheduleKeyDeletionRequest) (*kmsv1.ScheduleKeyDeletionResponse, error) {
	days := req.GetPendingWindowInDays()
	if days == 0 {
		days = defaultPendingWindow
	}
	if days < minPendingWindowDays || days > maxPendingWindowDays {
		return nil, validationError("1 validation error detected: Value '%d' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between %d and %d", days, minPendingWindowDays, maxPendingWindowDays)
	}
	now := s.now().UTC()
	m := &keystore.Mutation{Op: keystore.OpScheduleKeyDeletion, Time: now,
		DeletionDate: now.AddDate(0, 0, int(days)), PendingWindowInDays: days}
	if err := s.mutateKey(ctx, req.GetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.ScheduleKeyDeletionResponse{KeyId: s.keyARN(m.KeyID), DeletionDate: timestamp(m.DeletionDate),
		KeyState: string(keystore.PendingDeletion), PendingWindowInDays: days}, nil
}

// CancelKeyDeletion takes a key out of PendingDeletion; it becomes Disabled.
func (s *Server) CancelKeyDeletion(ctx context.Context, req *kmsv1.CancelKeyDeletionRequest) (*kmsv1.CancelKeyDeletionResponse, error) {
	m := &keystore.Mutation{Op: keystore.OpCancelKeyDeletion}
	if err := s.mutateKey(ctx, req.GetKeyId(), m); err != nil {
		return nil, err
	}
	return &kmsv1.CancelKeyDeletionResponse{KeyId: s.keyARN(m.KeyID)}, nil
}

// mutateKey resolves a key id or ARN (never an alias, as AWS), fills in the
// key id and time of m and commits it. A refused state transition is
// explained with the key's current state.
func (s *Server) mutateKey(ctx context.Context, param string, m *keystore.Mutation) error {
	k, err := s.resolveKey(param, keyOnly)
	if err != nil {
		return err
	}
	m.KeyID = k.ID
	if m.Time.IsZero() {
		m.Time = s.now().UTC()
	}
	err = s.propose(ctx, m)
	if errors.Is(err, keystore.ErrInvalidState) {
		return s.stateError(k.ID)
	}
	if errors.Is(err, keystore.ErrNotFound) {
		return notFound("Key '%s' does not exist", s.keyARN(k.ID))
	}
	return err
}

// stateError explains why a key's current state refuses an operation.
func (s *Server) stateError(id string) error {
	k, err := s.store.Key(id)
	if err != nil {
		return notFound("Key '%s' does not exist", s.keyARN(id))
	}
	return newAPIError(codes.FailedPrecondition, excInvalidState, "%s is %s", s.keyARN(id), stateWords(k.State))
}

func stateWords(st keystore.State) string {
	switch st {
	case keystore.PendingDeletion:
		return "pending deletion."
	case keystore.PendingImport:
		return "pending import."
	case keystore.Disabled:
		return "disabled."
	}
	return "in state " + string(st) + "."
}
