package main

import (
	"context"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

func init() {
	register(
		&command{name: "encrypt", op: "Encrypt", usage: encryptUsage, outfile: "CiphertextBlob",
			flags: []flagSpec{{"key-id", kindString, true}, {"plaintext", kindBlob, true},
				{"encryption-context", kindContext, false}, {"grant-tokens", kindList, false},
				{"encryption-algorithm", kindString, false}, {"dry-run", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: a.strings["key-id"], Plaintext: a.blobs["plaintext"],
					EncryptionContext: a.contexts["encryption-context"], GrantTokens: a.lists["grant-tokens"],
					EncryptionAlgorithm: a.strings["encryption-algorithm"], DryRun: a.bools["dry-run"]})
			}},
		&command{name: "decrypt", op: "Decrypt", usage: decryptUsage, outfile: "Plaintext",
			flags: []flagSpec{{"ciphertext-blob", kindBlob, true}, {"key-id", kindString, false},
				{"encryption-context", kindContext, false}, {"grant-tokens", kindList, false},
				{"encryption-algorithm", kindString, false}, {"dry-run", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: a.blobs["ciphertext-blob"], KeyId: a.strings["key-id"],
					EncryptionContext: a.contexts["encryption-context"], GrantTokens: a.lists["grant-tokens"],
					EncryptionAlgorithm: a.strings["encryption-algorithm"], DryRun: a.bools["dry-run"]})
			}},
		&command{name: "re-encrypt", op: "ReEncrypt", usage: reEncryptUsage, outfile: "CiphertextBlob",
			flags: []flagSpec{{"ciphertext-blob", kindBlob, true}, {"destination-key-id", kindString, true},
				{"source-key-id", kindString, false}, {"source-encryption-context", kindContext, false},
				{"destination-encryption-context", kindContext, false}, {"source-encryption-algorithm", kindString, false},
				{"destination-encryption-algorithm", kindString, false}, {"grant-tokens", kindList, false}, {"dry-run", kindBool, false}},
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: a.blobs["ciphertext-blob"],
					SourceKeyId: a.strings["source-key-id"], DestinationKeyId: a.strings["destination-key-id"],
					SourceEncryptionContext: a.contexts["source-encryption-context"], DestinationEncryptionContext: a.contexts["destination-encryption-context"],
					SourceEncryptionAlgorithm: a.strings["source-encryption-algorithm"], DestinationEncryptionAlgorithm: a.strings["destination-encryption-algorithm"],
					GrantTokens: a.lists["grant-tokens"], DryRun: a.bools["dry-run"]})
			}},
		&command{name: "generate-data-key", op: "GenerateDataKey", usage: generateDataKeyUsage, outfile: "Plaintext",
			flags: dataKeyFlags,
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: a.strings["key-id"], KeySpec: a.strings["key-spec"],
					NumberOfBytes: a.ints["number-of-bytes"], EncryptionContext: a.contexts["encryption-context"],
					GrantTokens: a.lists["grant-tokens"], DryRun: a.bools["dry-run"]})
			}},
		&command{name: "generate-data-key-without-plaintext", op: "GenerateDataKeyWithoutPlaintext", usage: generateDataKeyWithoutPlaintextUsage,
			outfile: "CiphertextBlob", flags: dataKeyFlags,
			run: func(ctx context.Context, c *call) (any, error) {
				a := c.args
				return c.client.GenerateDataKeyWithoutPlaintext(ctx, &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: a.strings["key-id"],
					KeySpec: a.strings["key-spec"], NumberOfBytes: a.ints["number-of-bytes"], EncryptionContext: a.contexts["encryption-context"],
					GrantTokens: a.lists["grant-tokens"], DryRun: a.bools["dry-run"]})
			}},
		&command{name: "generate-random", op: "GenerateRandom", usage: generateRandomUsage, outfile: "Plaintext",
			flags: []flagSpec{{"number-of-bytes", kindInt, true}},
			run: func(ctx context.Context, c *call) (any, error) {
				return c.client.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{NumberOfBytes: c.args.ints["number-of-bytes"]})
			}},
	)
}

var dataKeyFlags = []flagSpec{{"key-id", kindString, true}, {"key-spec", kindString, false}, {"number-of-bytes", kindInt, false},
	{"encryption-context", kindContext, false}, {"grant-tokens", kindList, false}, {"dry-run", kindBool, false}}

const encryptUsage = `Usage: kmsctl encrypt --key-id KEY --plaintext fileb://PATH|-|BASE64
       [--encryption-context K=V,...] [--outfile PATH]

Encrypts up to 4096 bytes. The same encryption context must be given to
decrypt. --outfile writes the raw ciphertext (mode 0600).

Example:
  kmsctl encrypt --key-id alias/payments --plaintext fileb://secret.txt \
      --encryption-context purpose=demo --outfile secret.enc
`

const decryptUsage = `Usage: kmsctl decrypt --ciphertext-blob fileb://PATH|-|BASE64
       [--encryption-context K=V,...] [--key-id KEY] [--outfile PATH]

Decrypts a ciphertext; the key is read from the ciphertext. --key-id, when
given, must name that key. --outfile writes the raw plaintext (mode 0600).

Example:
  kmsctl decrypt --ciphertext-blob fileb://secret.enc --encryption-context purpose=demo --outfile secret.txt
`

const reEncryptUsage = `Usage: kmsctl re-encrypt --ciphertext-blob fileb://PATH --destination-key-id KEY
       [--source-encryption-context K=V,...] [--destination-encryption-context K=V,...] [--source-key-id KEY]

Decrypts and encrypts again under another key inside the service; the
plaintext never leaves it.

Example:
  kmsctl re-encrypt --ciphertext-blob fileb://secret.enc --source-encryption-context purpose=demo \
      --destination-key-id alias/archive --outfile secret.archive.enc
`

const generateDataKeyUsage = `Usage: kmsctl generate-data-key --key-id KEY (--key-spec AES_256|AES_128 | --number-of-bytes 1-1024)
       [--encryption-context K=V,...] [--outfile PATH]

Returns a new data key in plaintext and encrypted under KEY. Encrypt data
with the plaintext locally, then forget it; keep only CiphertextBlob.

Example:
  kmsctl generate-data-key --key-id alias/payments --key-spec AES_256
`

const generateDataKeyWithoutPlaintextUsage = `Usage: kmsctl generate-data-key-without-plaintext --key-id KEY (--key-spec AES_256|AES_128 | --number-of-bytes N)

Like generate-data-key, without the plaintext copy.

Example:
  kmsctl generate-data-key-without-plaintext --key-id alias/payments --key-spec AES_256
`

const generateRandomUsage = `Usage: kmsctl generate-random --number-of-bytes 1-1024 [--outfile PATH]

Example:
  kmsctl generate-random --number-of-bytes 32 --outfile random.bin
`
