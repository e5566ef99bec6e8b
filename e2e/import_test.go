package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/kmsd/kmsd/envelope"
)

// TestImportThroughKmsctl imports key material with the real kmsctl: the
// AWS CLI flow (get-parameters-for-import, wrap locally with crypto/rsa,
// import-key-material), re-import, deletion, and the one-step command.
func TestImportThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	dir := t.TempDir()
	key := str(d.ok("create-key", "--origin", "EXTERNAL", "--description", "byok"), "KeyMetadata.KeyId")
	d.fails("KMSInvalidStateException", "encrypt", "--key-id", key, "--plaintext", b64("x"))

	material := make([]byte, 32)
	rand.Read(material)
	params := d.ok("get-parameters-for-import", "--key-id", key, "--wrapping-algorithm", "RSAES_OAEP_SHA_256", "--wrapping-key-spec", "RSA_2048")
	pubDER := decodeB64(t, str(params, "PublicKey"))
	pub, err := x509.ParsePKIXPublicKey(pubDER)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, err := envelope.WrapForImport(rand.Reader, pub.(*rsa.PublicKey), "RSAES_OAEP_SHA_256", material)
	if err != nil {
		t.Fatal(err)
	}
	token := write(t, dir, "token.bin", decodeB64(t, str(params, "ImportToken")))
	wrappedPath := write(t, dir, "wrapped.bin", wrapped)
	imp := d.ok("import-key-material", "--key-id", key, "--import-token", "fileb://"+token,
		"--encrypted-key-material", "fileb://"+wrappedPath, "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
	want, _ := envelope.KeyFromBytes(material)
	if str(imp, "KeyMaterialId") != want.MaterialID().String() {
		t.Fatalf("import output %v", imp)
	}
	enc := str(d.ok("encrypt", "--key-id", key, "--plaintext", b64("bring your own key")), "CiphertextBlob")
	if pt, err := envelope.Open(want, decodeB64(t, enc), nil); err != nil || string(pt) != "bring your own key" {
		t.Fatal("the ciphertext was not made with the imported material")
	}
	// Malformed wrapped material and a token for another key are refused.
	bad := write(t, dir, "bad.bin", bytes.Repeat([]byte{1}, len(wrapped)))
	d.fails("InvalidCiphertextException", "import-key-material", "--key-id", key, "--import-token", "fileb://"+token,
		"--encrypted-key-material", "fileb://"+bad)
	other := str(d.ok("create-key", "--origin", "EXTERNAL"), "KeyMetadata.KeyId")
	d.fails("InvalidImportTokenException", "import-key-material", "--key-id", other, "--import-token", "fileb://"+token,
		"--encrypted-key-material", "fileb://"+wrappedPath)

	// Delete, see decryption refused, import the same material in one step.
	d.ok("delete-imported-key-material", "--key-id", key)
	if st := str(d.ok("describe-key", "--key-id", key), "KeyMetadata.KeyState"); st != "PendingImport" {
		t.Fatalf("state %s after delete-imported-key-material", st)
	}
	d.fails("KMSInvalidStateException", "decrypt", "--ciphertext-blob", enc)
	raw := write(t, dir, "key.bin", material)
	wrong := write(t, dir, "wrong.bin", bytes.Repeat([]byte{7}, 32))
	d.fails("IncorrectKeyMaterialException", "import-key-material-from-file", "--key-id", key, "--key-material", "fileb://"+wrong)
	d.ok("import-key-material-from-file", "--key-id", key, "--key-material", "fileb://"+raw)
	dec := d.ok("decrypt", "--ciphertext-blob", enc)
	if pt := decodeB64(t, str(dec, "Plaintext")); string(pt) != "bring your own key" {
		t.Fatalf("decrypt after re-import: %q", pt)
	}
	// New material for rotation, then rotate.
	next := write(t, dir, "next.bin", bytes.Repeat([]byte{9}, 32))
	d.ok("import-key-material-from-file", "--key-id", key, "--key-material", "fileb://"+next, "--import-type", "NEW_KEY_MATERIAL",
		"--wrapping-algorithm", "RSAES_OAEP_SHA_1", "--wrapping-key-spec", "RSA_2048")
	d.ok("rotate-key-on-demand", "--key-id", key)
	nextKey, _ := envelope.KeyFromBytes(bytes.Repeat([]byte{9}, 32))
	if cur := str(d.ok("describe-key", "--key-id", key), "KeyMetadata.CurrentKeyMaterialId"); cur != nextKey.MaterialID().String() {
		t.Fatalf("current material %s after rotation", cur)
	}
}
