package awsapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// BenchmarkVerify is the signature check of one Encrypt request.
func BenchmarkVerify(b *testing.B) {
	body := []byte(`{"KeyId":"11111111-2222-3333-4444-555555555555","Plaintext":"` + strings.Repeat("QUFB", 11) + `","EncryptionContext":{"a":"b"}}`)
	r, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:7480/", nil)
	r.Header.Set(headerTarget, "TrentService.Encrypt")
	r.Header.Set("Content-Type", contentTypeJSON)
	at, _ := time.Parse(amzDateFmt, suiteDate)
	sum := sha256.Sum256(body)
	v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: suiteKeyID, SecretAccessKey: suiteSecret}, r, hex.EncodeToString(sum[:]), Service, "us-east-1", at)
	r.Host = r.URL.Host
	v := suiteVerifier(Service)
	b.ReportAllocs()
	for b.Loop() {
		if got := v.verify(r, body); got.err != nil {
			b.Fatal(got.err.message)
		}
	}
}

// BenchmarkDecode decodes one Encrypt request body.
func BenchmarkDecode(b *testing.B) {
	body := []byte(`{"KeyId":"11111111-2222-3333-4444-555555555555","Plaintext":"` + strings.Repeat("QUFB", 11) + `","EncryptionContext":{"a":"b"}}`)
	b.ReportAllocs()
	for b.Loop() {
		var m kmsv1.EncryptRequest
		if err := decodeJSON(body, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode encodes one GenerateDataKey response.
func BenchmarkEncode(b *testing.B) {
	m := &kmsv1.GenerateDataKeyResponse{CiphertextBlob: make([]byte, 142), Plaintext: make([]byte, 32), KeyId: "arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555", KeyMaterialId: strings.Repeat("ab", 32)}
	b.ReportAllocs()
	buf := make([]byte, 0, 512)
	for b.Loop() {
		buf = encodeJSON(buf[:0], m)
	}
}
