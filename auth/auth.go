// Package auth signs the gRPC requests of kmsd's clients.
//
// Every call to kmsd's API carries a signature made with an access key
// (an access key id and its secret), as the AWS SDKs sign requests to
// AWS: the secret never travels, and a captured request is refused once
// it is more than five minutes old, or if anything in it was changed. The
// scheme is described in the iam package (iam.SignRequest).
//
// Applications add the signing interceptors when they dial:
//
//	creds, err := auth.FromEnvironment()     // KMS_ACCESS_KEY_ID, KMS_SECRET_ACCESS_KEY[, KMS_SESSION_TOKEN]
//	conn, err := grpc.NewClient(addr, append(auth.DialOptions(creds), grpc.WithTransportCredentials(tc))...)
//
// For a server-streaming method the signature covers the method and the
// time but not the request message, which is sent after the headers.
package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/iam"
)

// Credentials are an access key and, for temporary credentials, a session
// token.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// String never shows the secret.
func (c Credentials) String() string {
	return fmt.Sprintf("Credentials{AccessKeyID: %s, SecretAccessKey: [REDACTED]}", c.AccessKeyID)
}

// Environment variables FromEnvironment reads.
const (
	EnvAccessKeyID     = "KMS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "KMS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "KMS_SESSION_TOKEN"
)

// ErrNoCredentials is returned when no credentials are configured.
var ErrNoCredentials = errors.New("auth: no credentials: set " + EnvAccessKeyID + " and " + EnvSecretAccessKey)

// FromEnvironment reads credentials from the environment.
func FromEnvironment() (Credentials, error) {
	c := Credentials{AccessKeyID: os.Getenv(EnvAccessKeyID), SecretAccessKey: os.Getenv(EnvSecretAccessKey), SessionToken: os.Getenv(EnvSessionToken)}
	if c.AccessKeyID == "" && c.SecretAccessKey == "" {
		return Credentials{}, ErrNoCredentials
	}
	if c.AccessKeyID == "" || c.SecretAccessKey == "" {
		return Credentials{}, fmt.Errorf("auth: set both %s and %s", EnvAccessKeyID, EnvSecretAccessKey)
	}
	return c, nil
}

// Signer adds signatures to outgoing calls.
type Signer struct {
	Creds Credentials
	// Now defaults to time.Now.
	Now func() time.Time

	mu  sync.Mutex
	day string // the day key was derived for
	key []byte
}

// signingKey returns the day's signing key, derived once a day.
func (s *Signer) signingKey(day string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.day != day || s.key == nil {
		s.day, s.key = day, iam.DeriveSigningKey(s.Creds.SecretAccessKey, day)
	}
	return s.key
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

var deterministic = proto.MarshalOptions{Deterministic: true}

// Sign returns ctx with the metadata that authenticates a call of method
// with message req (nil for a streaming method).
func (s *Signer) Sign(ctx context.Context, method string, req any) (context.Context, error) {
	var body []byte
	if m, ok := req.(proto.Message); ok {
		var err error
		if body, err = deterministic.Marshal(m); err != nil {
			return ctx, fmt.Errorf("auth: encode request: %w", err)
		}
	}
	t := s.now().UTC()
	md := iam.SignRequestWithKey(s.Creds.AccessKeyID, s.signingKey(t.Format("20060102")), s.Creds.SessionToken, method, body, t)
	kv := make([]string, 0, 2*len(md))
	for k, v := range md {
		kv = append(kv, k, v)
	}
	return metadata.AppendToOutgoingContext(ctx, kv...), nil
}

// UnaryInterceptor signs every unary call.
func (s *Signer) UnaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	ctx, err := s.Sign(ctx, method, req)
	if err != nil {
		return err
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

// StreamInterceptor signs every streaming call (method and time only).
func (s *Signer) StreamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	ctx, err := s.Sign(ctx, method, nil)
	if err != nil {
		return nil, err
	}
	return streamer(ctx, desc, cc, method, opts...)
}

// DialOptions returns the options that sign every call with creds.
func DialOptions(creds Credentials) []grpc.DialOption {
	s := &Signer{Creds: creds}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(s.UnaryInterceptor), grpc.WithChainStreamInterceptor(s.StreamInterceptor)}
}

// GoString never shows the secret either.
func (c Credentials) GoString() string { return c.String() }
