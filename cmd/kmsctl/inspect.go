package main

import (
	"context"
	"fmt"

	"github.com/kmsd/kmsd/envelope"
)

func init() {
	register(&command{name: "inspect-ciphertext", op: "InspectCiphertext", usage: inspectUsage, local: true,
		flags: []flagSpec{{"ciphertext-blob", kindBlob, true}}, run: inspect})
}

// ciphertextInfo is what inspect-ciphertext prints.
type ciphertextInfo struct {
	FormatVersion    int
	Algorithm        string
	KeyId            string //nolint:revive // AWS's member name
	KeyMaterialId    string //nolint:revive // AWS's member name
	CiphertextLength int
}

// algorithmNames names the algorithms of the ciphertext format.
var algorithmNames = map[byte]string{envelope.AlgAES256GCMHKDFSHA256: "AES_256_GCM_HKDF_SHA256"}

// inspect prints a ciphertext's header without contacting kmsd. The
// header is not authenticated until kmsd decrypts the ciphertext.
func inspect(_ context.Context, c *call) (any, error) {
	blob := c.args.blobs["ciphertext-blob"]
	h, err := envelope.ParseHeader(blob)
	if err != nil {
		return nil, fmt.Errorf("%w: not a kmsd ciphertext (format 1)", errLocal)
	}
	alg, ok := algorithmNames[h.Algorithm]
	if !ok {
		alg = fmt.Sprintf("unknown (%d)", h.Algorithm)
	}
	return ciphertextInfo{
		FormatVersion:    int(h.Format),
		Algorithm:        alg,
		KeyId:            h.KeyID.String(),
		KeyMaterialId:    h.MaterialID.String(),
		CiphertextLength: len(blob),
	}, nil
}

const inspectUsage = `Usage: kmsctl inspect-ciphertext --ciphertext-blob fileb://PATH|-|BASE64

Prints a ciphertext's format version, algorithm, key id, key material id
and length without decrypting it and without contacting kmsd. The header is
not authenticated: only decrypt proves the ciphertext is genuine. A blob
that is not a kmsd ciphertext is an error (exit status 255).

Example:
  kmsctl inspect-ciphertext --ciphertext-blob fileb://secret.enc
  kmsctl inspect-ciphertext --ciphertext-blob fileb://secret.enc --query KeyId --output text
`
