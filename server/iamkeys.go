package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/kmsd/kmsd/envelope"
	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Access keys. The secret access key is 30 random bytes in base64 (40
// characters, as AWS's). It is answered once, by CreateAccessKey, and
// stored only wrapped under the root key with envelope.WrapBytes, the AAD
// binding it to its access key id, so a wrapped secret copied onto another
// key does not unwrap.

const secretAccessKeyBytes = 30

// accessKeyAAD binds a wrapped secret to its access key.
func accessKeyAAD(accessKeyID string) []byte {
	return append([]byte("kmsd/v1/access-key-secret/"), accessKeyID...)
}

// errCorruptSecret: a stored secret does not unwrap under the root key.
var errCorruptSecret = errors.New("server: stored access key secret does not unwrap under the root key")

// accessKeySecret returns the secret of an access key, unwrapped. A
// failure is errCorruptSecret (an internal error).
func (s *Server) accessKeySecret(k keystore.AccessKey) (string, error) {
	b, err := envelope.UnwrapBytes(s.rootKey, k.WrappedSecret, accessKeyAAD(k.AccessKeyID))
	if err != nil {
		return "", errCorruptSecret
	}
	return string(b), nil
}

// newAccessKey makes an access key for user: its id, its secret, and the
// secret wrapped for storage.
func (s *Server) newAccessKey(user string) (*keystore.AccessKey, string, error) {
	id, err := newUniqueID(s.rand, prefixAccessKeyID, 20)
	if err != nil {
		return nil, "", err
	}
	raw := make([]byte, secretAccessKeyBytes)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return nil, "", fmt.Errorf("read secret: %w", err)
	}
	secret := base64.StdEncoding.EncodeToString(raw)
	clear(raw)
	wrapped, err := envelope.WrapBytes(s.rand, s.rootKey, []byte(secret), accessKeyAAD(id))
	if err != nil {
		return nil, "", err
	}
	return &keystore.AccessKey{AccessKeyID: id, UserName: user, WrappedSecret: wrapped}, secret, nil
}

// CreateAccessKey makes a new access key for a user (at most two each)
// and answers its secret, this once.
func (is *iamService) CreateAccessKey(ctx context.Context, req *kmsv1.CreateAccessKeyRequest) (*kmsv1.CreateAccessKeyResponse, error) {
	name := req.GetUserName()
	if err := validateUserName(name); err != nil {
		return nil, err
	}
	k, secret, err := is.s.newAccessKey(name)
	if err != nil {
		return nil, err
	}
	err = is.propose(ctx, keystore.OpCreateAccessKey, keystore.IdentityMutation{AccessKey: k})
	if errors.Is(err, keystore.ErrLimitExceeded) {
		return nil, iamLimit("Cannot exceed quota for AccessKeysPerUser: %d", keystore.MaxAccessKeysPerUser)
	}
	if err := mapStoreError(err, userWhat(name)); err != nil {
		return nil, err
	}
	stored, ok := is.ids.AccessKey(k.AccessKeyID)
	if !ok {
		return nil, noSuchEntity("%s cannot be found.", userWhat(name))
	}
	return &kmsv1.CreateAccessKeyResponse{AccessKey: &kmsv1.AccessKey{
		UserName: stored.UserName, AccessKeyId: stored.AccessKeyID, Status: stored.Status,
		SecretAccessKey: secret, CreateDate: timestamp(stored.CreateDate),
	}}, nil
}

// ListAccessKeys lists a user's access keys, without their secrets.
func (is *iamService) ListAccessKeys(ctx context.Context, req *kmsv1.ListAccessKeysRequest) (*kmsv1.ListAccessKeysResponse, error) {
	name := req.GetUserName()
	if err := validateUserName(name); err != nil {
		return nil, err
	}
	limit, err := maxItems(req.GetMaxItems())
	if err != nil {
		return nil, err
	}
	if err := is.read(ctx); err != nil {
		return nil, err
	}
	keys, err := is.ids.AccessKeys(name)
	if err != nil {
		return nil, mapStoreError(err, userWhat(name))
	}
	byID := map[string]keystore.AccessKey{}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		byID[k.AccessKeyID] = k
		ids = append(ids, k.AccessKeyID)
	}
	page, next, err := pageNames(ids, limit, req.GetMarker())
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.ListAccessKeysResponse{IsTruncated: next != "", Marker: next}
	for _, id := range page {
		k := byID[id]
		resp.AccessKeyMetadata = append(resp.AccessKeyMetadata, &kmsv1.AccessKeyMetadata{
			UserName: k.UserName, AccessKeyId: k.AccessKeyID, Status: k.Status, CreateDate: timestamp(k.CreateDate)})
	}
	return resp, nil
}

// UpdateAccessKey activates or deactivates an access key.
func (is *iamService) UpdateAccessKey(ctx context.Context, req *kmsv1.UpdateAccessKeyRequest) (*kmsv1.UpdateAccessKeyResponse, error) {
	if err := validateKeyOfUser(req.GetAccessKeyId(), req.GetUserName()); err != nil {
		return nil, err
	}
	st := req.GetStatus()
	if st != keystore.AccessKeyActive && st != keystore.AccessKeyInactive {
		return nil, constraintError("status", st, "must satisfy enum value set: [Active, Inactive]")
	}
	a := keystore.IdentityMutation{AccessKeyID: req.GetAccessKeyId(), UserName: req.GetUserName(), Status: st}
	if err := mapStoreError(is.propose(ctx, keystore.OpUpdateAccessKey, a), accessKeyWhat(a)); err != nil {
		return nil, err
	}
	return &kmsv1.UpdateAccessKeyResponse{}, nil
}

// DeleteAccessKey deletes an access key.
func (is *iamService) DeleteAccessKey(ctx context.Context, req *kmsv1.DeleteAccessKeyRequest) (*kmsv1.DeleteAccessKeyResponse, error) {
	if err := validateKeyOfUser(req.GetAccessKeyId(), req.GetUserName()); err != nil {
		return nil, err
	}
	a := keystore.IdentityMutation{AccessKeyID: req.GetAccessKeyId(), UserName: req.GetUserName()}
	if err := mapStoreError(is.propose(ctx, keystore.OpDeleteAccessKey, a), accessKeyWhat(a)); err != nil {
		return nil, err
	}
	return &kmsv1.DeleteAccessKeyResponse{}, nil
}

func validateKeyOfUser(id, user string) error {
	if err := validateAccessKeyID(id); err != nil {
		return err
	}
	if user != "" {
		return validateUserName(user)
	}
	return nil
}

func accessKeyWhat(a keystore.IdentityMutation) string {
	if a.UserName != "" {
		return "The Access Key with id " + a.AccessKeyID + " of user " + a.UserName
	}
	return "The Access Key with id " + a.AccessKeyID
}
