package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// unaryInterceptor converts handler errors through the error table, turns a
// panic into KMSInternalException and logs one line per call. It never logs
// request or response messages: they carry plaintext.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", info.FullMethod, r, debug.Stack())
			resp = nil
		}
		err = toStatus(ctx, s.log, info.FullMethod, err)
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.DebugContext(ctx, "request", "method", info.FullMethod,
				"code", status.Code(err).String(), "exception", ExceptionName(err),
				"duration", time.Since(start))
		}
	}()
	return handler(ctx, req)
}
