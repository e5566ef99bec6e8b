package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(&command{name: "import-key-material-from-file", op: "ImportKeyMaterial", usage: importFromFileUsage,
		flags: []flagSpec{{"key-id", kindString, true}, {"key-material", kindBlob, true},
			{"wrapping-algorithm", kindString, false}, {"wrapping-key-spec", kindString, false},
			{"valid-to", kindString, false}, {"expiration-model", kindString, false}, {"import-type", kindString, false},
			{"key-material-description", kindString, false}},
		run: importFromFile})
}

// importFromFile imports raw key material in one step: it fetches import
// parameters, wraps the material locally with the returned public key, and
// imports it. The raw material never travels unwrapped.
func importFromFile(ctx context.Context, c *call) (any, error) {
	a := c.args
	material := a.blobs["key-material"]
	defer clear(material)
	if len(material) != 32 {
		return nil, usagef("--key-material must be exactly 32 bytes (got %d); use fileb://PATH for a raw key file", len(material))
	}
	alg := orDefault(a.strings["wrapping-algorithm"], envelope.WrapRSAAESKeyWrapSHA256)
	spec := orDefault(a.strings["wrapping-key-spec"], "RSA_3072")
	params, err := c.client.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{
		KeyId: a.strings["key-id"], WrappingAlgorithm: alg, WrappingKeySpec: spec})
	if err != nil {
		return nil, err
	}
	pub, err := x509.ParsePKIXPublicKey(params.GetPublicKey())
	rsaPub, ok := pub.(*rsa.PublicKey)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: the service returned an unusable public key", errLocal)
	}
	wrapped, err := envelope.WrapForImport(rand.Reader, rsaPub, alg, material)
	if err != nil {
		return nil, fmt.Errorf("%w: wrapping the key material: %v", errLocal, err)
	}
	return sendImport(ctx, c, params.GetImportToken(), wrapped)
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

const importFromFileUsage = `Usage: kmsctl import-key-material-from-file --key-id KEY --key-material fileb://RAW32
       [--wrapping-algorithm RSA_AES_KEY_WRAP_SHA_256] [--wrapping-key-spec RSA_3072]
       [--expiration-model ...] [--valid-to ...] [--import-type NEW_KEY_MATERIAL|EXISTING_KEY_MATERIAL]

Imports a raw 32-byte key in one step: fetches import parameters, wraps the
key locally with the returned public key (RSA-OAEP + AES-KWP by default), and
imports it. The raw key never leaves this machine unwrapped. (A kmsd
convenience; with the AWS CLI this takes get-parameters-for-import, openssl
and import-key-material.)

Example:
  head -c 32 /dev/urandom > key.bin
  KEY=$(kmsctl create-key --origin EXTERNAL --query KeyMetadata.KeyId --output text)
  kmsctl import-key-material-from-file --key-id "$KEY" --key-material fileb://key.bin
`
