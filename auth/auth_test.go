package auth

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kmsd/kmsd/iam"
)

// TestSignerSignsWhatTheServerChecks: the metadata Sign adds verifies with
// the iam package for the message and method it was made for, and not for
// another.
func TestSignerSignsWhatTheServerChecks(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s := &Signer{Creds: Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret", SessionToken: "tok"}, Now: func() time.Time { return now }}
	msg := wrapperspb.String("hello")
	ctx, err := s.Sign(context.Background(), "/kms.v1.KeyManagementService/Encrypt", msg)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	r, err := iam.ParseAuthorization(md.Get(iam.HeaderAuthorization)[0], md.Get(iam.HeaderDate)[0], md.Get(iam.HeaderSecurityToken)[0])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := deterministic.Marshal(msg)
	key := iam.DeriveSigningKey("secret", r.Day)
	if err := iam.VerifyRequest(r, key, "/kms.v1.KeyManagementService/Encrypt", body, now); err != nil {
		t.Fatalf("the signature does not verify: %v", err)
	}
	other, _ := deterministic.Marshal(wrapperspb.String("hellp"))
	if iam.VerifyRequest(r, key, "/kms.v1.KeyManagementService/Encrypt", other, now) == nil {
		t.Fatal("the signature verifies for another message")
	}
}

func TestFromEnvironment(t *testing.T) {
	for _, c := range []struct {
		id, secret string
		ok         bool
	}{{"AKID", "s", true}, {"", "", false}, {"AKID", "", false}, {"", "s", false}} {
		t.Setenv(EnvAccessKeyID, c.id)
		t.Setenv(EnvSecretAccessKey, c.secret)
		got, err := FromEnvironment()
		if (err == nil) != c.ok || (c.ok && got.SecretAccessKey != c.secret) {
			t.Errorf("%q/%q: %v %v", c.id, c.secret, got, err)
		}
	}
}

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	c := Credentials{AccessKeyID: "AKID", SecretAccessKey: "very-secret-value"}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%v %+v %s %#v", c, c, c, c)} {
		if strings.Contains(s, "very-secret-value") {
			t.Fatalf("the secret is printed: %s", s)
		}
	}
}
