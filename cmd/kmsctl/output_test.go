package main

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kmsd/kmsd/envelope"
)

const describeJSON = `{
    "KeyMetadata": {
        "AWSAccountId": "111122223333",
        "KeyId": "k",
        "Arn": "arn:aws:kms:us-east-1:111122223333:key/k",
        "CreationDate": "2026-01-02T03:04:05Z",
        "Enabled": true,
        "Description": "d",
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled",
        "EncryptionAlgorithms": [
            "SYMMETRIC_DEFAULT"
        ]
    }
}
`

const describeText = "KEYMETADATA\t111122223333\tk\tarn:aws:kms:us-east-1:111122223333:key/k\t2026-01-02T03:04:05Z\tTrue\td\tENCRYPT_DECRYPT\tEnabled\n" +
	"ENCRYPTIONALGORITHMS\tSYMMETRIC_DEFAULT\n"

// TestOutput: JSON in field order with AWS's member names, text like the
// AWS CLI's, --query, empty responses and merged pages.
func TestOutput(t *testing.T) {
	cases := []struct {
		args     []string
		want     string
		requests int
	}{
		{[]string{"describe-key", "--key-id", "k"}, describeJSON, 1},
		{[]string{"--output", "json", "describe-key", "--key-id", "k"}, describeJSON, 1},
		{[]string{"describe-key", "--key-id", "k", "--output", "text"}, describeText, 1},
		{[]string{"describe-key", "--key-id", "k", "--query", "KeyMetadata.KeyId", "--output", "text"}, "k\n", 1},
		{[]string{"describe-key", "--key-id", "k", "--query", "KeyMetadata.KeyId"}, "\"k\"\n", 1},
		{[]string{"describe-key", "--key-id", "k", "--query=KeyMetadata.Enabled", "--output=text"}, "True\n", 1},
		{[]string{"describe-key", "--key-id", "k", "--query", "KeyMetadata.EncryptionAlgorithms[0]", "--output", "text"}, "SYMMETRIC_DEFAULT\n", 1},
		{[]string{"describe-key", "--key-id", "k", "--query", "KeyMetadata.Nothing"}, "null\n", 1},
		{[]string{"describe-key", "--key-id", "k", "--query", "KeyMetadata.Nothing", "--output", "text"}, "None\n", 1},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "aGk=", "--query", "CiphertextBlob", "--output", "text"}, "Y3Q6aGk=\n", 1},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "aGk="},
			"{\n    \"CiphertextBlob\": \"Y3Q6aGk=\",\n    \"KeyId\": \"k\",\n    \"EncryptionAlgorithm\": \"SYMMETRIC_DEFAULT\"\n}\n", 1},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "aGk=", "--output", "text"}, "Y3Q6aGk=\tk\tSYMMETRIC_DEFAULT\n", 1},
		{[]string{"enable-key", "--key-id", "k"}, "", 1},
		{[]string{"enable-key", "--key-id", "k", "--output", "text"}, "", 1},
		{[]string{"list-keys", "--query", "Keys[].KeyId", "--output", "text"}, "k0\tk1\tk2\tk3\tk4\n", 3},
		{[]string{"list-keys", "--query", "Keys[].KeyId"},
			"[\n    \"k0\",\n    \"k1\",\n    \"k2\",\n    \"k3\",\n    \"k4\"\n]\n", 3},
		{[]string{"list-keys", "--limit", "2", "--output", "text"}, "2\tTrue\nKEYS\tk0\tarn:k0\nKEYS\tk1\tarn:k1\n", 1},
		{[]string{"list-keys", "--max-items", "3", "--query", "Keys[].KeyId", "--output", "text"}, "k0\tk1\tk2\n", 1},
		{[]string{"list-keys", "--max-items", "1001", "--query", "Keys[].KeyId", "--output", "text"}, "k0\tk1\tk2\tk3\tk4\n", 1},
		{[]string{"list-keys", "--marker", "3", "--query", "Keys[].KeyId", "--output", "text"}, "k3\tk4\n", 1},
		{[]string{"list-keys", "--query", "Keys[1]"}, "{\n    \"KeyId\": \"k1\",\n    \"KeyArn\": \"arn:k1\"\n}\n", 3},
		{[]string{"list-keys", "--query", "Truncated"}, "null\n", 3},
		{[]string{"list-aliases", "--output", "text"}, "ALIASES\talias/a\tk0\n", 1},
		{[]string{"schedule-key-deletion", "--key-id", "k", "--pending-window-in-days", "7"},
			"{\n    \"KeyId\": \"k\",\n    \"PendingWindowInDays\": 7\n}\n", 1},
	}
	for i, c := range cases {
		f, addr := startFake(t)
		stdout, stderr, code := ctl(t, addr, "", c.args...)
		if code != 0 {
			t.Errorf("Test %d: kmsctl %q: exit %d: %s", i, c.args, code, stderr)
			continue
		}
		if stdout != c.want {
			t.Errorf("Test %d: kmsctl %q printed\n%q\nwant\n%q", i, c.args, stdout, c.want)
		}
		if n := len(f.requests()); n != c.requests {
			t.Errorf("Test %d: kmsctl %q sent %d requests, want %d", i, c.args, n, c.requests)
		}
	}
}

// TestOutfile: --outfile writes the raw binary field with mode 0600, even
// over an existing file, and prints the rest of the response.
func TestOutfile(t *testing.T) {
	cases := []struct {
		args    []string
		want    []byte
		stdout  string
		missing string
	}{
		{[]string{"generate-random", "--number-of-bytes", "3"}, []byte{255, 254, 253}, "", "Plaintext"},
		{[]string{"decrypt", "--ciphertext-blob", "Y3Q6AAEC"}, []byte{0, 1, 2}, "KeyId", "Plaintext"},
		{[]string{"encrypt", "--key-id", "k", "--plaintext", "AA=="}, []byte("ct:\x00"), "KeyId", "CiphertextBlob"},
		{[]string{"generate-data-key", "--key-id", "k", "--key-spec", "AES_256"}, []byte{0, 1, 2}, "CiphertextBlob", "Plaintext"},
		{[]string{"generate-data-key-without-plaintext", "--key-id", "k", "--key-spec", "AES_256"}, []byte("wrapped"), "KeyId", "CiphertextBlob"},
		{[]string{"re-encrypt", "--ciphertext-blob", "AA==", "--destination-key-id", "d"}, []byte("re"), "KeyId", "CiphertextBlob"},
	}
	for i, c := range cases {
		_, addr := startFake(t)
		path := filepath.Join(t.TempDir(), "out")
		if err := os.WriteFile(path, []byte("old content, longer than the new"), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, stderr, code := ctl(t, addr, "", append(c.args, "--outfile", path)...)
		if code != 0 {
			t.Fatalf("Test %d: exit %d: %s", i, code, stderr)
		}
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("Test %d: file holds %q (%v), want %q", i, got, err, c.want)
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("Test %d: file mode %v (%v), want 0600", i, fi.Mode().Perm(), err)
		}
		if !strings.Contains(stdout, c.stdout) || strings.Contains(stdout, c.missing) {
			t.Errorf("Test %d: stdout %q should show %q and not %q", i, stdout, c.stdout, c.missing)
		}
	}
}

// fakeCiphertext is a well-framed format 1 ciphertext with known ids.
func fakeCiphertext() []byte {
	blob := make([]byte, envelope.Overhead+5)
	blob[0], blob[1] = envelope.FormatV1, envelope.AlgAES256GCMHKDFSHA256
	for i := 2; i < 18; i++ {
		blob[i] = 0x11
	}
	for i := 18; i < 50; i++ {
		blob[i] = 0xab
	}
	return blob
}

// TestInspectCiphertext: the header is printed without contacting kmsd;
// anything else is a local error.
func TestInspectCiphertext(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good", fakeCiphertext())
	bad := writeFile(t, dir, "bad", []byte("definitely not a ciphertext"))
	wantJSON := `{
    "FormatVersion": 1,
    "Algorithm": "AES_256_GCM_HKDF_SHA256",
    "KeyId": "11111111-1111-1111-1111-111111111111",
    "KeyMaterialId": "` + strings.Repeat("ab", 32) + `",
    "CiphertextLength": ` + strconv.Itoa(len(fakeCiphertext())) + `
}
`
	cases := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"inspect-ciphertext", "--ciphertext-blob", "fileb://" + good}, 0, wantJSON, ""},
		{[]string{"inspect-ciphertext", "--ciphertext-blob", "fileb://" + good, "--query", "KeyMaterialId", "--output", "text"}, 0,
			hex.EncodeToString(bytes.Repeat([]byte{0xab}, 32)) + "\n", ""},
		{[]string{"inspect-ciphertext", "--ciphertext-blob", "fileb://" + bad}, exitOther, "", "not a kmsd ciphertext"},
		{[]string{"inspect-ciphertext", "--ciphertext-blob", "fileb://" + good[:len(good)-1]}, exitUsage, "", "no such file"},
	}
	for i, c := range cases {
		// Nothing listens at this endpoint: inspect-ciphertext must not need it.
		stdout, stderr, code := ctl(t, "127.0.0.1:1", "", c.args...)
		if code != c.code || stdout != c.stdout || !strings.Contains(stderr, c.stderr) {
			t.Errorf("Test %d: exit %d, stdout %q, stderr %q; want %d, %q, %q", i, code, stdout, stderr, c.code, c.stdout, c.stderr)
		}
	}
}
