package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/audit"
	"github.com/kmsd/kmsd/cluster"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// unaryInterceptor converts handler errors through the error table, turns a
// panic into KMSInternalException, records the call in the audit log and
// logs one line per call. The response goes out only once its audit record
// is committed. It never logs request or response messages: they carry
// plaintext.
func (s *Server) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	return s.pipeline(ctx, info.FullMethod, req, handler, func(ctx context.Context) (caller, error) {
		return s.auth.authenticate(ctx, info.FullMethod, req)
	})
}

// pipeline runs one call of method through every step a call takes, for
// both front doors (gRPC and the AWS-compatible endpoint, invoke.go):
// authentication by authn, the read barrier, authorization, the handler,
// the error table and the audit record, committed before the response.
func (s *Server) pipeline(ctx context.Context, method string, req any, handler grpc.UnaryHandler,
	authn func(context.Context) (caller, error)) (resp any, err error) {
	info := &grpc.UnaryServerInfo{FullMethod: method}
	if !s.calls.enter() {
		return nil, toStatus(ctx, s.log, info.FullMethod, errClosing)
	}
	defer s.calls.leave()
	start := time.Now()
	defer func() { s.metrics.observe(info.FullMethod, start, err) }()
	if ctx.Err() != nil {
		// The caller went away before anything was done (a stream reset
		// as soon as it was opened): nothing is done, answered or recorded.
		return nil, toStatus(ctx, s.log, info.FullMethod, ctx.Err())
	}
	if s.storage != nil && isAudited(info.FullMethod) {
		// A call that would write (its audit record, at least) while the
		// data directory is nearly full is refused before anything is
		// done; recording the refusal would take the space that is
		// missing, so it is counted in the metrics only.
		if err := s.storage.StorageCheck(); err != nil {
			return nil, toStatus(ctx, s.log, info.FullMethod, err)
		}
	}
	ci, audited, err := s.startAudit(ctx, info.FullMethod)
	if err != nil {
		return nil, toStatus(ctx, s.log, info.FullMethod, err)
	}
	if m, ok := req.(proto.Message); ok && isAudited(info.FullMethod) && proto.Size(m) > MaxRequestBytes {
		err := withReason(codes.ResourceExhausted, excValidation,
			fmt.Sprintf("The request is larger than the limit of %d bytes.", MaxRequestBytes))
		if !audited {
			return nil, err
		}
		return s.finishAudit(ctx, ci, info.FullMethod, nil, nil, err) // recorded like any refusal
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s: %v\n%s", info.FullMethod, r, debug.Stack())
			resp = nil
		}
		err = toStatus(ctx, s.log, info.FullMethod, err)
		if audited {
			resp, err = s.finishAudit(ctx, ci, info.FullMethod, req, resp, err)
		}
		if s.log.Enabled(ctx, slog.LevelDebug) {
			s.log.DebugContext(ctx, "request", "method", info.FullMethod,
				"code", status.Code(err).String(), "exception", ExceptionName(err),
				"event_id", ci.eventID, "duration", time.Since(start))
		}
	}()
	if s.auth != nil && needsAuthentication(info.FullMethod) {
		who, err := authn(ctx)
		ci.identity = &who.identity
		if err != nil {
			return nil, err
		}
		ctx = withCaller(ctx, who)
	}
	if err := s.throttle(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	if s.reads != nil && strings.HasPrefix(info.FullMethod, kmsMethodPrefix) {
		if err := s.readBarrier(ctx); err != nil {
			return nil, err
		}
	}
	if s.auth != nil && needsAuthentication(info.FullMethod) {
		if err := s.authorize(ctx, info.FullMethod, req); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(info.FullMethod, auditMethodPrefix) {
		if err := s.auditBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

const (
	kmsMethodPrefix   = "/kms.v1.KeyManagementService/"
	auditMethodPrefix = "/kms.v1.AuditService/"
)

// auditBarrier waits, at most MutationTimeout, until this member has
// applied every audit record it acknowledged: records are acknowledged
// once committed, before they are applied (auditCommitter), and a reader
// of the log must find them.
func (s *Server) auditBarrier(ctx context.Context) error {
	if s.auditSync == nil {
		return nil
	}
	ctx, cancel := s.mutationContext(ctx)
	defer cancel()
	if err := s.auditSync.AuditBarrier(ctx); err != nil {
		if errors.Is(err, cluster.ErrShutdown) {
			return err
		}
		return &apiError{code: codes.Unavailable, name: excDependency,
			message: "This member has not yet applied every audit record it acknowledged; nothing was done. Retry the request."}
	}
	return nil
}

// readBarrier waits, at most MutationTimeout like any wait on the Raft
// log, until this member holds every mutation acknowledged before.
func (s *Server) readBarrier(ctx context.Context) error {
	ctx, cancel := s.mutationContext(ctx)
	defer cancel()
	if err := s.reads.ReadBarrier(ctx); err != nil {
		return readBarrierError(err)
	}
	return nil
}

// readBarrierError reports a call refused because this member could not
// make sure it holds the latest state; nothing was done.
func readBarrierError(err error) error {
	if errors.Is(err, cluster.ErrShutdown) {
		return err
	}
	return &apiError{code: codes.Unavailable, name: excDependency,
		message: "This member could not reach the cluster's leader to make sure it holds the latest state; nothing was done. Retry the request."}
}

// startAudit prepares the record of a call to an audited method and sends
// its identifiers in the response header.
func (s *Server) startAudit(ctx context.Context, method string) (callInfo, bool, error) {
	if s.auditW == nil || !isAudited(method) {
		return callInfo{}, false, nil
	}
	ci, err := s.newCallInfo(ctx)
	if err != nil {
		return ci, false, err
	}
	// The header goes out with the response or the error status.
	if ids, ok := ctx.Value(callIDsKey{}).(*CallIDs); ok {
		*ids = CallIDs{EventID: ci.eventID, RequestID: ci.requestID}
	} else {
		grpc.SetHeader(ctx, metadata.Pairs(HeaderEventID, ci.eventID, HeaderRequestID, ci.requestID))
	}
	return ci, true, nil
}

// finishAudit commits the record of a call. If the record cannot be made
// durable the call fails, whatever its outcome: no response leaves the
// server without its record.
func (s *Server) finishAudit(ctx context.Context, ci callInfo, method string, req, resp any, err error) (any, error) {
	name := method[strings.LastIndexByte(method, '/')+1:]
	e := s.apiEvent(ci, name, req, resp, err)
	rec, cerr := e.Canonical()
	if cerr == nil {
		cerr = s.auditW.append(rec, ci.eventID, s.recordMAC(audit.LeafHash(rec)))
	}
	if cerr != nil {
		s.log.ErrorContext(ctx, "audit record not committed; failing the request", "method", method,
			"event_id", ci.eventID, "err", cerr)
		msg := "The audit record of this request could not be made durable, so the request failed. Retry the request."
		if mutating[name] {
			msg = "The audit record of this request could not be made durable, so the request failed; the change it asked for may have been made. Retry the request."
		}
		return nil, withReason(codes.Unavailable, excDependency, msg)
	}
	return resp, err
}

func isAudited(method string) bool {
	if unaudited[method] {
		return false
	}
	for _, p := range auditedServices {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// streamInterceptor records a call to an audited streaming method (the
// audit log's tail) when its request arrives, before the handler sees it:
// a stream may run for hours, and who started reading the log must be on
// record from the start. If the record cannot be committed, the stream
// fails.
func (s *Server) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !s.calls.enter() {
		return toStatus(ss.Context(), s.log, info.FullMethod, errClosing)
	}
	defer s.calls.leave()
	ci, audited, err := s.startAudit(ss.Context(), info.FullMethod)
	if err != nil {
		return toStatus(ss.Context(), s.log, info.FullMethod, err)
	}
	if s.auth != nil && needsAuthentication(info.FullMethod) {
		// A stream's signature covers its method and time; the request
		// message comes later.
		who, err := s.auth.authenticate(ss.Context(), info.FullMethod, nil)
		ci.identity = &who.identity
		if err != nil {
			if audited {
				_, err = s.finishAudit(ss.Context(), ci, info.FullMethod, nil, nil, err)
			}
			return toStatus(ss.Context(), s.log, info.FullMethod, err)
		}
		ctx := withCaller(ss.Context(), who)
		if err := s.throttle(ctx, info.FullMethod); err != nil {
			if audited {
				_, err = s.finishAudit(ctx, ci, info.FullMethod, nil, nil, err)
			}
			return toStatus(ctx, s.log, info.FullMethod, err)
		}
		if err := s.authorize(ctx, info.FullMethod, nil); err != nil {
			if audited {
				_, err = s.finishAudit(ctx, ci, info.FullMethod, nil, nil, err)
			}
			return toStatus(ctx, s.log, info.FullMethod, err)
		}
		ss = &callerStream{ServerStream: ss, ctx: ctx}
	}
	if !audited {
		return handler(srv, ss)
	}
	if recordedAtAnswer[info.FullMethod] {
		a := &answerAuditedStream{ServerStream: ss, s: s, ci: ci, method: info.FullMethod}
		err := handler(srv, a)
		if !a.recorded {
			_, err = s.finishAudit(ss.Context(), ci, info.FullMethod, a.req, nil, toStatus(ss.Context(), s.log, info.FullMethod, err))
		}
		return err
	}
	return handler(srv, &auditedStream{ServerStream: ss, s: s, ci: ci, method: info.FullMethod})
}

// recordedAtAnswer lists the client-streaming methods whose record is
// committed when they answer, not when their first message arrives:
// Restore replaces the audit log, so a record committed before it would
// be gone.
var recordedAtAnswer = map[string]bool{
	kmsv1.ClusterService_Restore_FullMethodName: true,
}

// answerAuditedStream commits the record of its call before the answer
// leaves (or, if the handler fails, when it returns).
type answerAuditedStream struct {
	grpc.ServerStream
	s        *Server
	ci       callInfo
	method   string
	req      any // the first request message
	recorded bool
}

func (a *answerAuditedStream) RecvMsg(m any) error {
	err := a.ServerStream.RecvMsg(m)
	if err == nil && a.req == nil {
		a.req = m
	}
	return err
}

func (a *answerAuditedStream) SendMsg(m any) error {
	if !a.recorded {
		a.recorded = true
		if _, err := a.s.finishAudit(a.Context(), a.ci, a.method, a.req, m, nil); err != nil {
			return err
		}
	}
	return a.ServerStream.SendMsg(m)
}

// auditedStream commits the record of its call when the request arrives.
type auditedStream struct {
	grpc.ServerStream
	s        *Server
	ci       callInfo
	method   string
	recorded bool
}

func (a *auditedStream) RecvMsg(m any) error {
	err := a.ServerStream.RecvMsg(m)
	if a.recorded {
		return err
	}
	a.recorded = true
	if err != nil && a.Context().Err() != nil {
		// The caller went away before its request arrived: nothing was
		// done or answered, so nothing is recorded (like a unary call
		// cancelled before it began).
		return err
	}
	var req any
	if err == nil {
		req = m
	}
	if _, aerr := a.s.finishAudit(a.Context(), a.ci, a.method, req, nil, toStatus(a.Context(), a.s.log, a.method, err)); aerr != nil && err == nil {
		return aerr
	}
	return err
}

// callerStream carries the authenticated caller in its context.
type callerStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (c *callerStream) Context() context.Context { return c.ctx }
