package main

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "get-parameters-for-import", op: "GetParametersForImport", usage: getParametersForImportUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"wrapping-algorithm", kindString, true}, {"wrapping-key-spec", kindString, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: a.strings["key-id"],
					WrappingAlgorithm: a.strings["wrapping-algorithm"], WrappingKeySpec: a.strings["wrapping-key-spec"]})
			}},
		&command{name: "import-key-material", op: "ImportKeyMaterial", usage: importKeyMaterialUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"import-token", kindBlob, true}, {"encrypted-key-material", kindBlob, true},
				{"valid-to", kindString, false}, {"expiration-model", kindString, false}, {"import-type", kindString, false},
				{"key-material-description", kindString, false}, {"key-material-id", kindString, false}},
			run: importKeyMaterial},
		&command{name: "delete-imported-key-material", op: "DeleteImportedKeyMaterial", usage: deleteImportedKeyMaterialUsage,
			flags: []flagSpec{{"key-id", kindString, true}, {"key-material-id", kindString, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.DeleteImportedKeyMaterial(ctx, &kmsv1.DeleteImportedKeyMaterialRequest{KeyId: c.args.strings["key-id"],
					KeyMaterialId: c.args.strings["key-material-id"]})
			}},
	)
}

func importKeyMaterial(ctx context.Context, c *call) (any, error) {
	a := c.args
	return sendImport(ctx, c, a.blobs["import-token"], a.blobs["encrypted-key-material"])
}

// sendImport calls ImportKeyMaterial with the token and wrapped material
// and the optional flags both import commands share.
func sendImport(ctx context.Context, c *call, token, wrapped []byte) (any, error) {
	a := c.args
	req := &kmsv1.ImportKeyMaterialRequest{KeyId: a.strings["key-id"], ImportToken: token, EncryptedKeyMaterial: wrapped,
		ExpirationModel: a.strings["expiration-model"], ImportType: a.strings["import-type"],
		KeyMaterialDescription: a.strings["key-material-description"], KeyMaterialId: a.strings["key-material-id"]}
	if v := a.strings["valid-to"]; v != "" {
		t, err := parseTime(v)
		if err != nil {
			return nil, err
		}
		req.ValidTo = timestamppb.New(t)
	}
	return c.client.ImportKeyMaterial(ctx, req)
}

// parseTime takes what the AWS CLI takes for a timestamp: RFC 3339 or
// seconds since the epoch.
func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.Unix(secs, 0), nil
	}
	return time.Time{}, usagef("%q is not a time (use RFC 3339, e.g. 2027-01-31T00:00:00Z, or epoch seconds)", v)
}

const getParametersForImportUsage = `Usage: kmsctl get-parameters-for-import --key-id KEY
       --wrapping-algorithm RSAES_OAEP_SHA_256|RSAES_OAEP_SHA_1|RSA_AES_KEY_WRAP_SHA_256
       --wrapping-key-spec RSA_2048|RSA_3072|RSA_4096

Returns a public key to wrap key material with, and an import token valid
for 24 hours. KEY must have Origin EXTERNAL.

Example:
  kmsctl get-parameters-for-import --key-id 1234abcd-12ab-34cd-56ef-1234567890ab \
      --wrapping-algorithm RSAES_OAEP_SHA_256 --wrapping-key-spec RSA_3072
`

const importKeyMaterialUsage = `Usage: kmsctl import-key-material --key-id KEY --import-token fileb://TOKEN
       --encrypted-key-material fileb://WRAPPED [--expiration-model KEY_MATERIAL_EXPIRES|KEY_MATERIAL_DOES_NOT_EXPIRE]
       [--valid-to 2027-01-31T00:00:00Z] [--import-type NEW_KEY_MATERIAL|EXISTING_KEY_MATERIAL]

Imports 32 bytes of key material wrapped with the public key from
get-parameters-for-import. Importing again must bring the same material.

Example:
  kmsctl import-key-material --key-id 1234abcd-12ab-34cd-56ef-1234567890ab \
      --import-token fileb://token.bin --encrypted-key-material fileb://wrapped.bin \
      --expiration-model KEY_MATERIAL_DOES_NOT_EXPIRE
`

const deleteImportedKeyMaterialUsage = `Usage: kmsctl delete-imported-key-material --key-id KEY [--key-material-id ID]

Deletes imported key material; the key goes to PendingImport until the same
material is imported again.

Example:
  kmsctl delete-imported-key-material --key-id 1234abcd-12ab-34cd-56ef-1234567890ab
`
