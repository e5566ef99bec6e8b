package main

import (
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
func dial(endpoint string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("bad endpoint %q: %v", endpoint, err)
	}
	return conn, nil
}

// reportError prints err as the AWS CLI does and returns the exit status.
func reportError(w io.Writer, cmd *command, endpoint string, timeout time.Duration, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(w, "kmsctl %s: %v\n", cmd.name, err)
		return exitUsage
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
	fmt.Fprintf(w, "An error occurred (%s) when calling the %s operation: %s\n", name, cmd.op, st.Message())
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
