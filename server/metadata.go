package server

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/keystore"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Values kmsd supports for the enumerated CreateKey parameters.
const (
	usageEncryptDecrypt = "ENCRYPT_DECRYPT"
	specSymmetric       = "SYMMETRIC_DEFAULT"
	keyManagerCustomer  = "CUSTOMER"
	algSymmetric        = "SYMMETRIC_DEFAULT"
)

// metadata converts a stored key to the API's KeyMetadata.
func (s *Server) metadata(k *keystore.Key) *kmsv1.KeyMetadata {
	md := &kmsv1.KeyMetadata{
		AwsAccountId:          s.accountID,
		KeyId:                 k.ID,
		Arn:                   s.keyARN(k.ID),
		CreationDate:          timestamp(k.CreationDate),
		Enabled:               k.State == keystore.Enabled,
		Description:           k.Description,
		KeyUsage:              k.Usage,
		KeyState:              string(k.State),
		DeletionDate:          timestamp(k.DeletionDate),
		ValidTo:               timestamp(k.ValidTo),
		Origin:                k.Origin,
		KeyManager:            keyManagerCustomer,
		CustomerMasterKeySpec: k.Spec,
		KeySpec:               k.Spec,
		EncryptionAlgorithms:  []string{algSymmetric},
	}
	if k.State == keystore.PendingDeletion {
		md.PendingDeletionWindowInDays = k.PendingWindowInDays
	}
	if v, ok := k.Current(); ok {
		md.CurrentKeyMaterialId = v.MaterialID
	}
	md.KeyMaterials = s.keyMaterials(k)
	return md
}

// timestamp converts t, leaving the zero time unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func toStoreTags(tags []*kmsv1.Tag) []keystore.Tag {
	out := make([]keystore.Tag, 0, len(tags))
	for _, t := range tags {
		out = append(out, keystore.Tag{Key: t.GetTagKey(), Value: t.GetTagValue()})
	}
	return out
}
