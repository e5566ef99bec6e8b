package main

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kmsd/kmsd/envelope"
)

func init() {
	register(&command{name: "inspect-ciphertext", op: "InspectCiphertext", usage: inspectUsage, local: true,
		flags: []flagSpec{{"ciphertext-blob", kindBlob, true}}, run: inspect})
}

// inspect prints a ciphertext's header without contacting kmsd.
func inspect(_ context.Context, c *call) (proto.Message, error) {
	blob := c.args.blobs["ciphertext-blob"]
	h, err := envelope.ParseHeader(blob)
	if err != nil {
		return nil, fmt.Errorf("%w: not a kmsd ciphertext (format 1)", errLocal)
	}
	return structpb.NewStruct(map[string]any{
		"FormatVersion":    int(h.Format),
		"Algorithm":        "AES_256_GCM_HKDF_SHA256",
		"KeyId":            h.KeyID.String(),
		"KeyMaterialId":    h.MaterialID.String(),
		"CiphertextLength": len(blob),
	})
}

const inspectUsage = `Usage: kmsctl inspect-ciphertext --ciphertext-blob fileb://PATH|-|BASE64

Prints a ciphertext's format version, key id and key material id without
decrypting it and without contacting kmsd.

Example:
  kmsctl inspect-ciphertext --ciphertext-blob fileb://secret.enc
`
