package server

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/iam"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Other front doors. The AWS-compatible HTTP endpoint (package awsapi)
// checks a request's signature itself, as its protocol defines, and then
// hands the operation to Invoke, which runs it through the same steps as a
// gRPC call (pipeline in interceptors.go): the audit record committed
// before the answer, the read barrier, authorization, the handler and the
// error table. There is one implementation of every operation; the front
// doors only translate.

// Credential is what an access key id (and, for temporary credentials, a
// session token) names: a caller and the secret its requests are signed
// with. The secret never leaves the server; SigV4Key derives the signing
// key of one credential scope. An unknown, inactive or expired credential
// still derives a key (from a secret nobody holds), so checking a request
// costs the same work whatever the credential.
type Credential struct {
	who     caller
	claimed caller
	secret  string
	known   bool
	expired bool
}

// LookupCredential finds the credential of a request signed with
// accessKeyID and, for temporary credentials, token. Without
// Config.Authenticate every credential is unknown.
func (s *Server) LookupCredential(accessKeyID, token string) *Credential {
	c := &Credential{claimed: caller{identity: audit.UserIdentity{Type: "Unknown", AccessKeyID: truncate(accessKeyID, 128)}}}
	if s.auth != nil {
		r := iam.SignedRequest{AccessKeyID: accessKeyID, Token: token}
		if token != "" && s.auth.sessions != nil {
			c.who, c.secret, c.known, c.expired = s.auth.sessions(r)
		} else {
			c.who, c.secret, c.known = s.auth.lookup(r)
		}
	}
	if !c.known {
		c.secret, c.expired = "unknown access key, checked all the same", false
	}
	return c
}

// ClaimedCredential is the credential of a request refused before its
// access key was looked up (a malformed or stale signature): it names the
// access key the request claimed, for the audit record, and nothing more.
func (s *Server) ClaimedCredential(accessKeyID string) *Credential {
	return &Credential{claimed: caller{identity: audit.UserIdentity{Type: "Unknown", AccessKeyID: truncate(accessKeyID, 128)}},
		secret: "unknown access key, checked all the same"}
}

// Known reports whether the credential names an active access key (or a
// valid session token whose key matches).
func (c *Credential) Known() bool { return c.known }

// Expired reports whether the credential is a session that has ended.
func (c *Credential) Expired() bool { return c.expired }

// SigV4Key returns the AWS Signature Version 4 signing key of the
// credential's secret for a scope: date (YYYYMMDD), region and service.
func (c *Credential) SigV4Key(date, region, service string) []byte {
	return SigV4Key(c.secret, date, region, service)
}

// SigV4Key derives AWS Signature Version 4's signing key:
// HMAC chain "AWS4"+secret → date → region → service → "aws4_request".
func SigV4Key(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, service)
	return hmacSum(k, "aws4_request")
}

func hmacSum(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// AuthError is a refused authentication with an exception name of the
// front door's protocol (InvalidSignatureException, ...), for Call.AuthError.
func AuthError(exception, message string) error {
	return &apiError{code: codes.Unauthenticated, name: exception, message: message}
}

// Call is one operation received by another front door.
type Call struct {
	// Op is the KeyManagementService operation ("Encrypt").
	Op string
	// Decode fills the operation's request message.
	Decode func(proto.Message) error
	// Credential signed the request; AuthError is nil if the signature
	// checked out, else the refusal (AuthError), which is recorded and
	// returned.
	Credential *Credential
	AuthError  error
	// RemoteAddr and UserAgent go into the audit record and the
	// aws:SourceIp condition.
	RemoteAddr net.Addr
	UserAgent  string
}

// CallIDs are the audit identifiers of a call.
type CallIDs struct {
	EventID, RequestID string
}

type callIDsKey struct{}

// kmsMethods are KeyManagementService's handlers by operation name.
var kmsMethods = func() map[string]grpc.MethodDesc {
	m := map[string]grpc.MethodDesc{}
	for _, d := range kmsv1.KeyManagementService_ServiceDesc.Methods {
		m[d.MethodName] = d
	}
	return m
}()

// HasOperation reports whether the KeyManagementService has operation op
// (exact name, as in AWS KMS: "GenerateDataKey").
func HasOperation(op string) bool {
	_, ok := kmsMethods[op]
	return ok
}

// errUnknownOperation answers Invoke for an operation the service lacks.
var errUnknownOperation = &apiError{code: codes.Unimplemented, name: excUnsupported,
	message: "This operation is not supported by kmsd."}

// Invoke runs c through the pipeline of a gRPC call and returns the
// response, or an error that ExceptionName and status.FromError read like
// a gRPC call's (Decode's own errors are returned as they are, and the
// call is not recorded: like a gRPC message that does not decode).
func (s *Server) Invoke(ctx context.Context, c Call) (proto.Message, CallIDs, error) {
	var ids CallIDs
	md, ok := kmsMethods[c.Op]
	if !ok {
		return nil, ids, toStatus(ctx, s.log, c.Op, errUnknownOperation)
	}
	if s.auth == nil {
		// Without authentication every gRPC call acts as the root; a
		// front door that checks signatures itself is never that open.
		return nil, ids, toStatus(ctx, s.log, c.Op, errUnauthenticated)
	}
	if c.RemoteAddr != nil {
		ctx = peer.NewContext(ctx, &peer.Peer{Addr: c.RemoteAddr})
	}
	ctx = metadata.NewIncomingContext(ctx, metadata.Pairs("user-agent", c.UserAgent))
	ctx = context.WithValue(ctx, callIDsKey{}, &ids)
	cred := c.Credential
	if cred == nil {
		cred = &Credential{claimed: caller{identity: audit.UserIdentity{Type: "Unknown"}}}
	}
	authErr := c.AuthError
	if authErr == nil && (!cred.known || cred.expired) {
		authErr = errUnauthenticated // the front door should have said why
	}
	authn := func(context.Context) (caller, error) {
		if authErr != nil {
			return cred.claimed, authErr
		}
		return cred.who, nil
	}
	var decodeErr error
	dec := func(m any) error {
		if err := c.Decode(m.(proto.Message)); err != nil && authErr == nil {
			decodeErr = err
			return err
		}
		return nil // a refused caller's request is recorded as far as it decoded
	}
	interceptor := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return s.pipeline(ctx, info.FullMethod, req, h, authn)
	}
	resp, err := md.Handler(s, ctx, dec, interceptor)
	if decodeErr != nil && errors.Is(err, decodeErr) {
		return nil, ids, err
	}
	if err != nil {
		return nil, ids, err
	}
	m, _ := resp.(proto.Message)
	return m, ids, nil
}
