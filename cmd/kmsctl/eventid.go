package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// eventIDHeader is the response header in which kmsd sends the eventID of
// a call's audit record, on success and on error.
const eventIDHeader = "kmsd-event-id"

// showEventID prints "EventId: ID" to w after each KeyManagementService
// call that kmsd answered (--show-event-id), so that the record can be
// looked up or proved with "kmsctl audit prove --event-id ID".
func showEventID(w io.Writer) grpc.UnaryClientInterceptor {
	prefix := "/" + kmsv1.KeyManagementService_ServiceDesc.ServiceName + "/"
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if !strings.HasPrefix(method, prefix) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		var md metadata.MD
		err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Header(&md))...)
		for _, id := range md.Get(eventIDHeader) {
			fmt.Fprintf(w, "EventId: %s\n", id)
		}
		return err
	}
}
