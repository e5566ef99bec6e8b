package awsapi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestEncodeKnownAnswers freezes the wire form of responses: AWS member
// names, epoch-second timestamps (with milliseconds when there are any),
// 64-bit integers as numbers, base64 blobs, sorted maps, escaped strings,
// unset fields left out.
func TestEncodeKnownAnswers(t *testing.T) {
	for _, c := range []struct {
		m    proto.Message
		want string
	}{
		{&kmsv1.EncryptResponse{CiphertextBlob: []byte{0, 1, 0xfe, 0xff}, KeyId: "arn:k"},
			`{"CiphertextBlob":"AAH+/w==","KeyId":"arn:k"}`},
		{&kmsv1.ScheduleKeyDeletionResponse{KeyId: "k", DeletionDate: timestamppb.New(time.Unix(1700000000, 0)), KeyState: "PendingDeletion", PendingWindowInDays: 7},
			`{"KeyId":"k","DeletionDate":1700000000,"KeyState":"PendingDeletion","PendingWindowInDays":7}`},
		{&kmsv1.KeyMaterial{CreationDate: timestamppb.New(time.Unix(1700000000, 250_000_000)), EncryptionCount: 1 << 40},
			`{"CreationDate":1700000000.250,"EncryptionCount":1099511627776}`},
		{&kmsv1.ListKeysResponse{Keys: []*kmsv1.KeyListEntry{{KeyId: "a"}, {KeyId: "b"}}, Truncated: true, NextMarker: "m"},
			`{"Keys":[{"KeyId":"a"},{"KeyId":"b"}],"NextMarker":"m","Truncated":true}`},
		{&kmsv1.DecryptRequest{EncryptionContext: map[string]string{"z": "1", "a": "\"q\\\n\x01é\xff"}},
			`{"EncryptionContext":{"a":"\"q\\\n\u0001é\ufffd","z":"1"}}`},
		{&kmsv1.EnableKeyResponse{}, `{}`},
	} {
		got := string(encodeJSON(nil, c.m))
		if got != c.want {
			t.Errorf("%T:\n got %s\nwant %s", c.m, got, c.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("%T: not JSON: %s", c.m, got)
		}
	}
}

// TestDecode: AWS request bodies decode into the messages; a member of
// the wrong type is a SerializationException naming it; unknown members
// and nulls are ignored.
func TestDecode(t *testing.T) {
	var imp kmsv1.ImportKeyMaterialRequest
	body := `{"KeyId":"k","ImportToken":"AAE=","ValidTo":1.7e9,"Unknown":{"x":[1,2]},"ExpirationModel":null,"KeyMaterialId":"a\u00e9\"b"}`
	if err := decodeJSON([]byte(body), &imp); err != nil {
		t.Fatal(err)
	}
	if imp.GetKeyId() != "k" || string(imp.GetImportToken()) != "\x00\x01" || imp.GetValidTo().AsTime().Unix() != 1_700_000_000 ||
		imp.GetExpirationModel() != "" || imp.GetKeyMaterialId() != "aé\"b" {
		t.Fatalf("decoded %v", &imp)
	}
	var enc kmsv1.EncryptRequest
	if err := decodeJSON([]byte(`{"EncryptionContext":{"b":"2","a":"1"},"GrantTokens":["t1","t2"],"DryRun":true}`), &enc); err != nil {
		t.Fatal(err)
	}
	if enc.GetEncryptionContext()["a"] != "1" || len(enc.GetGrantTokens()) != 2 || !enc.GetDryRun() {
		t.Fatalf("decoded %v", &enc)
	}
	var cg kmsv1.CreateGrantRequest
	if err := decodeJSON([]byte(`{"Constraints":{"EncryptionContextSubset":{"k":"v"}},"Operations":["Decrypt"]}`), &cg); err != nil {
		t.Fatal(err)
	}
	if cg.GetConstraints().GetEncryptionContextSubset()["k"] != "v" || cg.GetOperations()[0] != "Decrypt" {
		t.Fatalf("decoded %v", &cg)
	}
	if err := decodeJSON(nil, &enc); err != nil {
		t.Fatalf("an empty body: %v", err)
	}
	for _, c := range []struct{ body, member string }{
		{`{"KeyId":5}`, "KeyId"},
		{`{"Plaintext":"***"}`, "Plaintext"},
		{`{"Plaintext":7}`, "Plaintext"},
		{`{"DryRun":"yes"}`, "DryRun"},
		{`{"EncryptionContext":{"a":1}}`, "EncryptionContext"},
		{`{"EncryptionContext":{"a":null}}`, "EncryptionContext.a"},
		{`{"EncryptionContext":[]}`, "EncryptionContext"},
		{`{"GrantTokens":"t"}`, "GrantTokens"},
		{`{"GrantTokens":[1]}`, "GrantTokens[0]"},
		{`[1]`, "The request body"},
		{`{"KeyId":"a"`, "The request body"},
	} {
		var m kmsv1.EncryptRequest
		err := decodeJSON([]byte(c.body), &m)
		var se *errSerialization
		if !errors.As(err, &se) || !strings.HasPrefix(se.msg, c.member) {
			t.Errorf("%s: %v, want a SerializationException naming %s", c.body, err, c.member)
		}
	}
	for _, c := range []struct{ body, member string }{
		{`{"ValidTo":"2030-01-01T00:00:00Z"}`, "ValidTo"},
		{`{"ValidTo":-1}`, "ValidTo"},
		{`{"ValidTo":1e20}`, "ValidTo"},
	} {
		var m kmsv1.ImportKeyMaterialRequest
		var se *errSerialization
		if err := decodeJSON([]byte(c.body), &m); !errors.As(err, &se) || !strings.HasPrefix(se.msg, c.member) {
			t.Errorf("%s: %v, want a SerializationException naming %s", c.body, err, c.member)
		}
	}
	var n kmsv1.GenerateRandomRequest
	if err := decodeJSON([]byte(`{"NumberOfBytes":4294967296}`), &n); err == nil {
		t.Error("a 33-bit NumberOfBytes was accepted")
	}
}

// FuzzDecodeJSON: the request decoder never panics, and what it accepts
// encodes to JSON that decodes to the same message.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"KeyId":"k","Plaintext":"AAE=","EncryptionContext":{"a":"b"},"GrantTokens":["t"]}`,
		`{"ValidTo":1.5,"ImportToken":"","KeyId":"\u0000"}`, `{"ValidTo":1700000000.1229999}`, `{"ValidTo":1.0001}`, `{"Constraints":{"EncryptionContextEquals":{}}}`, `null`, `{"x":[{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []proto.Message{&kmsv1.EncryptRequest{}, &kmsv1.ImportKeyMaterialRequest{}, &kmsv1.CreateGrantRequest{}} {
			if decodeJSON(body, m) != nil {
				continue
			}
			out := encodeJSON(nil, m)
			back := m.ProtoReflect().New().Interface()
			if err := decodeJSON(out, back); err != nil {
				t.Fatalf("re-decode of %s: %v", out, err)
			}
			if !proto.Equal(m, back) {
				t.Fatalf("round trip changed the message: %v -> %s -> %v", m, out, back)
			}
		}
	})
}
