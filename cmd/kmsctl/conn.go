package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/auth"
)

// transport is how kmsctl reaches kmsd: the gRPC target and its transport
// credentials.
type transport struct {
	target string
	creds  credentials.TransportCredentials
	// tlsConfig is creds' configuration (nil in the clear): dialing
	// another member checks its certificate under that member's name.
	tlsConfig *tls.Config
	// sign adds the request signatures, when there are credentials.
	sign []grpc.DialOption
}

// newTransport reads the endpoint and TLS flags. An endpoint https://HOST:PORT,
// or HOST:PORT with --ca-bundle (or KMS_CA_BUNDLE), is reached over TLS,
// verified against the bundle (else AWS_CA_BUNDLE, else the system's roots);
// http://HOST:PORT and HOST:PORT without a bundle in the clear.
func newTransport(pa *parsedArgs) (*transport, error) {
	ep := endpoint(pa)
	bundle := pa.strings["ca-bundle"]
	if bundle == "" {
		bundle = os.Getenv("KMS_CA_BUNDLE")
	}
	useTLS := bundle != ""
	switch {
	case strings.HasPrefix(ep, "https://"):
		ep, useTLS = strings.TrimPrefix(ep, "https://"), true
	case strings.HasPrefix(ep, "http://"):
		if bundle != "" {
			return nil, usagef("--ca-bundle is for TLS, and the endpoint %s is http://", ep)
		}
		ep = strings.TrimPrefix(ep, "http://")
	}
	if useTLS && bundle == "" {
		// As the AWS CLI: its bundle variable, used only for TLS.
		bundle = os.Getenv("AWS_CA_BUNDLE")
	}
	host, _, err := net.SplitHostPort(strings.TrimSuffix(ep, "/"))
	if err != nil {
		return nil, usagef("--endpoint %q is not [https://]HOST:PORT", endpoint(pa))
	}
	t := &transport{target: strings.TrimSuffix(ep, "/"), creds: insecure.NewCredentials()}
	c, ok, err := loadCredentials(pa)
	if err != nil {
		return nil, err
	}
	if ok {
		t.sign = auth.DialOptions(c)
	}
	if !useTLS {
		return t, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if bundle != "" {
		pem, err := os.ReadFile(bundle)
		if err != nil {
			return nil, usagef("--ca-bundle: %v", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, usagef("--ca-bundle %s holds no PEM certificate", bundle)
		}
	}
	t.creds, t.tlsConfig = credentials.NewTLS(cfg), cfg
	return t, nil
}

// dial connects to the kmsd at addr (the endpoint, or another member's
// address) with t's transport security.
func (t *transport) dial(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	creds := t.creds
	if host, _, err := net.SplitHostPort(addr); err == nil && t.tlsConfig != nil && addr != t.target {
		// Another member: its certificate must name it.
		cfg := t.tlsConfig.Clone()
		cfg.ServerName = host
		creds = credentials.NewTLS(cfg)
	}
	opts = append(append([]grpc.DialOption{grpc.WithTransportCredentials(creds)}, t.sign...), opts...)
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("bad endpoint %q: %v", addr, err)
	}
	return conn, nil
}

// perCallTimeout bounds each unary call of a command that makes many.
func perCallTimeout(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return invoker(ctx, method, req, reply, cc, opts...)
	}
}

// reportError prints err as the AWS CLI does and returns the exit status.
func reportError(w io.Writer, cmd *command, endpoint string, timeout time.Duration, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "kmsctl %s: %v\n", cmd.name, err)
		return exitUsage
	}
	var ve *unverifiedError
	if errors.As(err, &ve) {
		fmt.Fprintf(w, "kmsctl %s: %v\n", cmd.name, ve.err)
		return exitUnverified
	}
	if errors.Is(err, errInterrupted) {
		fmt.Fprintf(w, "kmsctl %s: interrupted\n", cmd.name)
		return exitInterrupted
	}
	op := cmd.op
	var oe *opError
	if errors.As(err, &oe) {
		op, err = oe.op, oe.err
	}
	if errors.Is(err, errLocal) {
		fmt.Fprintf(w, "kmsctl %s: %s\n", cmd.name, strings.TrimPrefix(err.Error(), errLocal.Error()+": "))
		return exitOther
	}
	st, ok := status.FromError(err)
	if !ok {
		fmt.Fprintf(w, "kmsctl: %v\n", err)
		return exitOther
	}
	name := exceptionName(st)
	switch {
	case name == "" && st.Code() == codes.Unavailable:
		fmt.Fprintf(w, "Could not connect to the endpoint %s: %s\n", endpoint, st.Message())
		return exitOther
	case name == "" && st.Code() == codes.Canceled:
		fmt.Fprintln(w, "kmsctl: interrupted before kmsd answered; the operation may or may not have been carried out")
		return exitInterrupted
	case name == "" && st.Code() == codes.DeadlineExceeded:
		fmt.Fprintf(w, "No answer from the endpoint %s within %v (--timeout)\n", endpoint, timeout)
		return exitOther
	}
	if name == "" {
		name = st.Code().String()
	}
	fmt.Fprintf(w, "An error occurred (%s) when calling the %s operation: %s\n", name, op, st.Message())
	return exitServiceError
}

// exceptionName returns the AWS exception name a status carries.
func exceptionName(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() != "" {
			return info.GetReason()
		}
	}
	return ""
}

// opError names the API operation that failed, for commands that call
// several (audit export, audit verify).
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string { return e.op + ": " + e.err.Error() }
func (e *opError) Unwrap() error { return e.err }

// unverifiedError is an audit log, export or proof that does not check out
// (exit status 1).
type unverifiedError struct{ err error }

func (e *unverifiedError) Error() string { return e.err.Error() }
func (e *unverifiedError) Unwrap() error { return e.err }

// errInterrupted ends a command that runs until interrupted (audit tail).
var errInterrupted = errors.New("kmsctl: interrupted")
