package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// dial connects to kmsd. Transport security is added here when kmsd
// serves TLS.
func dial(endpoint string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient(endpoint, opts...)
	if err != nil {
		return nil, fmt.Errorf("bad endpoint %q: %v", endpoint, err)
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
