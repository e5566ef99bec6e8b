package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestNoSecretInAuditLogsOrDisk (TESTPLAN A4, L1, L3) runs every kind of
// call that carries a secret against kmsd at debug log level, collects each
// secret the run produced (plaintexts, data keys, ciphertext blobs, import
// tokens, imported material raw and wrapped, random bytes), and searches
// the whole audit log, the daemon's output and every file under the data
// directory for each of them, raw, hex and base64. Positive controls show
// the search works: a key description must be found in the audit log and
// on disk, and the CreateKey call's event id in the daemon's output.
func TestNoSecretInAuditLogsOrDisk(t *testing.T) {
	d := startDaemon(t, "--log-level", "debug")
	c := d.client()
	ctx := context.Background()
	const control = "description-control-9d2e1"
	var secrets [][]byte
	secret := func(b []byte) []byte {
		if len(b) >= 8 {
			secrets = append(secrets, bytes.Clone(b))
		}
		return b
	}
	var hdr metadata.MD
	key, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: control}, grpc.Header(&hdr))
	if err != nil || len(hdr.Get("kmsd-event-id")) != 1 {
		t.Fatal(err, hdr)
	}
	logControl := hdr.Get("kmsd-event-id")[0]
	kid := key.GetKeyMetadata().GetKeyId()
	ec := map[string]string{"tenant": "acme"}
	for i := range 20 {
		pt := secret([]byte("plaintext-canary-" + string(rune('a'+i)) + "-4b7f19"))
		enc, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: kid, Plaintext: pt, EncryptionContext: ec})
		if err != nil {
			t.Fatal(err)
		}
		secret(enc.GetCiphertextBlob())
		if _, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), EncryptionContext: ec}); err != nil {
			t.Fatal(err)
		}
		// A failing decryption carries the blob too.
		c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
		re, err := c.ReEncrypt(ctx, &kmsv1.ReEncryptRequest{CiphertextBlob: enc.GetCiphertextBlob(), SourceEncryptionContext: ec, DestinationKeyId: kid})
		if err != nil {
			t.Fatal(err)
		}
		secret(re.GetCiphertextBlob())
		dk, err := c.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: kid, KeySpec: "AES_256"})
		if err != nil {
			t.Fatal(err)
		}
		secret(dk.GetPlaintext())
		secret(dk.GetCiphertextBlob())
		dkn, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kmsv1.GenerateDataKeyWithoutPlaintextRequest{KeyId: kid, NumberOfBytes: 64})
		if err != nil {
			t.Fatal(err)
		}
		secret(dkn.GetCiphertextBlob())
		r, err := c.GenerateRandom(ctx, &kmsv1.GenerateRandomRequest{NumberOfBytes: 32})
		if err != nil {
			t.Fatal(err)
		}
		secret(r.GetPlaintext())
	}
	// Imported material: the raw key, the wrapped key and the token.
	ext, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Origin: "EXTERNAL"})
	if err != nil {
		t.Fatal(err)
	}
	params, err := c.GetParametersForImport(ctx, &kmsv1.GetParametersForImportRequest{KeyId: ext.GetKeyMetadata().GetKeyId(),
		WrappingAlgorithm: envelope.WrapRSAESOAEPSHA256, WrappingKeySpec: "RSA_2048"})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(params.GetPublicKey())
	if err != nil {
		t.Fatal(err)
	}
	material := secret(randomBytes(t, 32))
	wrapped, err := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), envelope.WrapRSAESOAEPSHA256, material)
	if err != nil {
		t.Fatal(err)
	}
	secret(wrapped)
	secret(params.GetImportToken())
	_, err = c.ImportKeyMaterial(ctx, &kmsv1.ImportKeyMaterialRequest{KeyId: ext.GetKeyMetadata().GetKeyId(),
		ImportToken: params.GetImportToken(), EncryptedKeyMaterial: wrapped, ExpirationModel: "KEY_MATERIAL_DOES_NOT_EXPIRE"})
	if err != nil {
		t.Fatal(err)
	}

	// The root's secret access key, which --dev writes to dev-credentials
	// and prints once, appears nowhere else.
	rootSecret := []byte(d.accessKey().SecretAccessKey)
	var audit bytes.Buffer
	for _, e := range d.auditRecords() {
		audit.Write(e.GetRecord())
		audit.WriteByte('\n')
	}
	// Stop first so that everything is on disk and in the output.
	d.stop()
	var disk [][]byte
	filepath.WalkDir(d.dataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		// TESTPLAN A5: the audit log and every other file are the owner's only.
		if info, err := e.Info(); err != nil || info.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, want no access for group and others (%v)", path, info.Mode().Perm(), err)
		}
		if filepath.Base(path) == "dev-credentials" {
			if !bytes.Contains(b, rootSecret) {
				t.Errorf("dev-credentials does not hold the root's secret")
			}
			return nil
		}
		disk = append(disk, b)
		return nil
	})
	diskAll := bytes.Join(disk, nil)
	logs := d.log.Bytes()
	places := map[string][]byte{"audit log": audit.Bytes(), "daemon output": logs, "data directory": diskAll}
	for name, haystack := range places {
		want := control
		if name == "daemon output" {
			want = logControl
		}
		if !bytes.Contains(haystack, []byte(want)) {
			t.Errorf("positive control missing from the %s (%d bytes searched): the search is broken", name, len(haystack))
		}
	}
	if !bytes.Contains(logs, []byte(`level=DEBUG`)) {
		t.Fatal("the daemon did not log at debug level")
	}
	if n := bytes.Count(logs, rootSecret); n != 1 {
		t.Errorf("the root's secret access key is in the daemon output %d times, want once (the --dev banner)", n)
	}
	for form, enc := range encodings(rootSecret) {
		for _, name := range []string{"audit log", "data directory"} {
			if bytes.Contains(places[name], enc) {
				t.Errorf("the root's secret access key (%s) found in the %s", form, name)
			}
		}
	}
	hits := 0
	for i, s := range secrets {
		for form, enc := range encodings(s) {
			for name, haystack := range places {
				if bytes.Contains(haystack, enc) {
					hits++
					t.Errorf("secret %d (%s) found in the %s", i, form, name)
				}
			}
		}
	}
	t.Logf("%d secrets × %d forms searched in %d audit bytes, %d log bytes, %d files (%d bytes): %d hits",
		len(secrets), len(encodings(nil)), audit.Len(), len(logs), len(disk), len(diskAll), hits)
}

// encodings returns the forms a secret could be written in.
func encodings(s []byte) map[string][]byte {
	return map[string][]byte{
		"raw":         s,
		"hex":         []byte(hex.EncodeToString(s)),
		"base64":      []byte(base64.StdEncoding.EncodeToString(s)),
		"base64 url":  []byte(base64.URLEncoding.EncodeToString(s)),
		"base64 raw":  []byte(base64.RawStdEncoding.EncodeToString(s)),
		"hex (upper)": bytes.ToUpper([]byte(hex.EncodeToString(s))),
	}
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
