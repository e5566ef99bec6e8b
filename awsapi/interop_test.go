package awsapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestInteroperability: a ciphertext made through the AWS endpoint
// decrypts through gRPC, and one made through gRPC decrypts through the
// AWS endpoint; a data key likewise.
func TestInteroperability(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	c := e.sdk(e.root)
	g := kmsv1.NewKeyManagementServiceClient(e.conn(t, e.root))
	k, err := c.CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	ec := map[string]string{"order": "42"}
	a, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("from aws"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	gd, err := g.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: a.CiphertextBlob, EncryptionContext: ec})
	if err != nil || string(gd.GetPlaintext()) != "from aws" {
		t.Fatalf("gRPC Decrypt of an AWS ciphertext: %v", err)
	}
	ge, err := g.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("from grpc"), EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	ad, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: ge.GetCiphertextBlob(), EncryptionContext: ec})
	if err != nil || string(ad.Plaintext) != "from grpc" {
		t.Fatalf("AWS Decrypt of a gRPC ciphertext: %v", err)
	}
	dk, err := g.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: keyID, KeySpec: "AES_256"})
	if err != nil {
		t.Fatal(err)
	}
	ad, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: dk.GetCiphertextBlob()})
	if err != nil || string(ad.Plaintext) != string(dk.GetPlaintext()) {
		t.Fatalf("AWS Decrypt of a gRPC data key: %v", err)
	}
}

// TestAuditRecordsOfAWSCalls: calls through the AWS endpoint are recorded
// like gRPC calls, with the SDK's user agent, the source address and the
// access key in userIdentity; a refused signature is recorded with the
// exception and the access key it claimed.
func TestAuditRecordsOfAWSCalls(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	alice := e.userCreds(t, "alice", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}`)
	k, err := e.sdk(alice).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	if _, err := e.sdk(alice).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("top secret"),
		EncryptionContext: map[string]string{"case": "audit"}}); err != nil {
		t.Fatal(err)
	}
	bad := alice
	bad.SecretAccessKey = wrongSecret(bad.SecretAccessKey)
	if _, err := e.sdk(bad).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("p")}); err == nil {
		t.Fatal("a wrong secret was accepted")
	}
	stale := rawRequest{creds: alice, target: "TrentService.Encrypt", body: `{"KeyId":"` + keyID + `","Plaintext":"cA=="}`,
		endpoint: e.url, at: time.Now().Add(-time.Hour)}
	if st, typ, _ := stale.do(t); st != 400 || typ != excInvalidSig {
		t.Fatalf("a request an hour old: %d %s", st, typ)
	}
	resp, err := kmsv1.NewAuditServiceClient(e.conn(t, e.root)).LookupEvents(ctx, &kmsv1.LookupEventsRequest{EventName: "Encrypt"})
	if err != nil {
		t.Fatal(err)
	}
	type record struct {
		UserIdentity struct {
			AccessKeyID string `json:"accessKeyId"`
		} `json:"userIdentity"`
		UserAgent         string         `json:"userAgent"`
		SourceIPAddress   string         `json:"sourceIPAddress"`
		ErrorCode         string         `json:"errorCode"`
		RequestParameters map[string]any `json:"requestParameters"`
	}
	var ok, refused int
	for _, ev := range resp.GetEvents() {
		if strings.Contains(string(ev.GetRecord()), "top secret") || strings.Contains(string(ev.GetRecord()), bad.SecretAccessKey) {
			t.Fatalf("a record holds the plaintext or a secret: %s", ev.GetRecord())
		}
		var r record
		if err := json.Unmarshal(ev.GetRecord(), &r); err != nil {
			t.Fatal(err)
		}
		var id struct {
			Type     string `json:"type"`
			UserName string `json:"userName"`
		}
		var raw struct {
			UserIdentity json.RawMessage `json:"userIdentity"`
		}
		json.Unmarshal(ev.GetRecord(), &raw)
		json.Unmarshal(raw.UserIdentity, &id)
		if !strings.Contains(r.UserAgent, "aws-sdk-go-v2") || r.SourceIPAddress != "127.0.0.1" || r.UserIdentity.AccessKeyID != alice.AccessKeyID {
			t.Fatalf("record: %s", ev.GetRecord())
		}
		switch r.ErrorCode {
		case "":
			ok++
			if id.Type != "IAMUser" || id.UserName != "alice" || fmt.Sprint(r.RequestParameters["encryptionContext"]) != "map[case:audit]" {
				t.Fatalf("record of a good call: %s", ev.GetRecord())
			}
		case excInvalidSig:
			refused++
			if id.Type != "Unknown" {
				t.Fatalf("record of a refused call: %s", ev.GetRecord())
			}
		}
	}
	if ok != 1 || refused != 2 {
		t.Fatalf("%d good and %d refused Encrypt records, want 1 and 2 (a wrong secret, a stale request)", ok, refused)
	}
}

// TestNormalizationOnTheAWSPath (S3): operation names in X-Amz-Target
// are exact — 1,000+ mutants of every operation's target (case, Unicode
// look-alikes, white space, separators, path tricks) are refused before
// anything runs and nothing is recorded — while in policies action names
// are case-insensitive, as AWS's, and key ARNs and encryption context
// keys case-sensitive.
func TestNormalizationOnTheAWSPath(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	k, err := e.sdk(e.root).CreateKey(ctx, &kms.CreateKeyInput{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := aws.ToString(k.KeyMetadata.KeyId)
	arn := aws.ToString(k.KeyMetadata.Arn)
	h, err := New(Config{Server: e.srv})
	if err != nil {
		t.Fatal(err)
	}
	local, _ := net.ResolveTCPAddr("tcp", "127.0.0.1:7480")
	mutants := 0
	for _, m := range kmsv1.KeyManagementService_ServiceDesc.Methods {
		op := m.MethodName
		for _, target := range targetMutants(op) {
			mutants++
			req := rawRequest{creds: e.root, target: target, body: `{"KeyId":"` + keyID + `"}`, endpoint: "http://127.0.0.1:7480"}.build(t)
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, net.Addr(local)))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			var body struct {
				Type string `json:"__type"`
			}
			json.Unmarshal(w.Body.Bytes(), &body)
			if w.Code != http.StatusBadRequest || (body.Type != excUnknownOperation && body.Type != excUnsupported) {
				t.Fatalf("target %q: %d %s, want UnknownOperationException", target, w.Code, w.Body)
			}
		}
	}
	if mutants < 1000 {
		t.Fatalf("only %d mutants", mutants)
	}
	// Nothing ran: the audit log has no record of a mutated target.
	ev, err := kmsv1.NewAuditServiceClient(e.conn(t, e.root)).LookupEvents(ctx, &kmsv1.LookupEventsRequest{MaxResults: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(ev.GetEvents()); n != 1 { // CreateKey
		t.Fatalf("%d records after the mutants, want 1", n)
	}

	doc := func(stmts string) string { return `{"Version":"2012-10-17","Statement":[` + stmts + `]}` }
	for _, c := range []struct {
		name, policy string
		ec           map[string]string
		encrypt      bool
	}{
		{"action in upper case", doc(`{"Effect":"Allow","Action":"KMS:ENCRYPT","Resource":"*"}`), nil, true},
		{"action in mixed case", doc(`{"Effect":"Allow","Action":"kMs:eNcRyPt","Resource":"` + arn + `"}`), nil, true},
		{"deny in lower case wins", doc(`{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:encrypt","Resource":"*"}`), nil, false},
		{"resource type in upper case", doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + strings.Replace(arn, ":key/", ":KEY/", 1) + `"}`), nil, false},
		{"region in upper case", doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + strings.Replace(arn, "us-east-1", "US-EAST-1", 1) + `"}`), nil, false},
		{"key id in upper case", doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"` + strings.Replace(arn, keyID, strings.ToUpper(keyID), 1) + `"}`), nil, false},
		{"context key exact", doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Tenant":"a"}}}`), map[string]string{"Tenant": "a"}, true},
		{"context key in another case", doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Tenant":"a"}}}`), map[string]string{"tenant": "a"}, false},
		{"context key with a space", doc(`{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:Tenant":"a"}}}`), map[string]string{"Tenant ": "a"}, false},
	} {
		user := e.userCreds(t, fmt.Sprintf("u%x", len(c.name)*1000+int(c.name[0])+len(c.policy)), c.policy)
		_, err := e.sdk(user).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(arn), Plaintext: []byte("p"), EncryptionContext: c.ec})
		if (err == nil) != c.encrypt {
			t.Errorf("%s: Encrypt error %v, want allowed=%v", c.name, err, c.encrypt)
		}
	}
}

// targetMutants returns variants of TrentService.op that are not it.
func targetMutants(op string) []string {
	lower, upper := strings.ToLower(op), strings.ToUpper(op)
	swapped := strings.Map(func(r rune) rune {
		if unicode.IsUpper(r) {
			return unicode.ToLower(r)
		}
		return unicode.ToUpper(r)
	}, op)
	names := []string{lower, upper, swapped, lower[:1] + op[1:], " " + op, op + " ", op + "\t", op + "/", "/" + op,
		op + ".", op + "\u200b", "\u200b" + op, op + "\u00a0", strings.Replace(op, "e", "\u0435", 1), // Cyrillic e
		strings.Replace(op, "o", "\u043e", 1), strings.Replace(op, "a", "\u0430", 1), op[:len(op)-1], op + op[len(op)-1:],
		op + "/..", "../" + op, "./" + op, op + "%00", op + "\x00", "kms:" + op, op + "*", "*"}
	var out []string
	for _, n := range names {
		if n != op {
			out = append(out, "TrentService."+n)
		}
	}
	for _, p := range []string{"trentservice.", "TRENTSERVICE.", "TrentService..", "TrentService ", "TrentService_", " TrentService.",
		"TrentService.TrentService.", "Trentservice.", "TrentService/"} {
		out = append(out, p+op)
	}
	return out
}

// TestSourceIPCondition: the caller's address reaches the policy
// conditions (aws:SourceIp) on the AWS path as on gRPC.
func TestSourceIPCondition(t *testing.T) {
	e := newTestEnv(t)
	ctx := context.Background()
	allow := func(cidr string) string {
		return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:GenerateRandom","Resource":"*","Condition":{"IpAddress":{"aws:SourceIp":"` + cidr + `"}}}]}`
	}
	local := e.userCreds(t, "local", allow("127.0.0.0/8"))
	remote := e.userCreds(t, "remote", allow("10.0.0.0/8"))
	if _, err := e.sdk(local).GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)}); err != nil {
		t.Fatalf("allowed from 127.0.0.0/8: %v", err)
	}
	_, err := e.sdk(remote).GenerateRandom(ctx, &kms.GenerateRandomInput{NumberOfBytes: aws.Int32(8)})
	wantAPIError(t, err, excAccessDenied, 400)
}

// wrongSecret returns secret with its first character changed (to another
// one: replacing it with a fixed letter left it unchanged one time in 64).
func wrongSecret(secret string) string {
	c := byte('x')
	if secret[0] == c {
		c = 'y'
	}
	return string(c) + secret[1:]
}
