package server

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// Limits of AuditService.
const (
	defaultLookupResults = 50
	maxLookupResults     = 1000
	// maxLookupScan bounds the records one LookupEvents call reads; a
	// search that has not finished returns a NextToken with what it found.
	maxLookupScan     = 100_000
	defaultGetResults = 1000
	maxGetResults     = 10_000
	lookupChunk       = 512
	// maxHeadsWithLeaves bounds a page of heads with their leaf hashes
	// (up to 256 KiB each).
	maxHeadsWithLeaves = 10
	tailChunk          = 256
)

// auditService implements kms.v1.AuditService over the node's copy of the
// audit log.
type auditService struct {
	kmsv1.UnimplementedAuditServiceServer
	s *Server
}

func (a *auditService) LookupEvents(ctx context.Context, req *kmsv1.LookupEventsRequest) (*kmsv1.LookupEventsResponse, error) {
	limit, err := maxResults(req.GetMaxResults(), defaultLookupResults, maxLookupResults)
	if err != nil {
		return nil, err
	}
	size, _ := a.s.audit.Size()
	next := size // records are scanned from next-1 down
	if t := req.GetNextToken(); t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || n < 0 || n > size {
			return nil, newAPIError(codes.InvalidArgument, excInvalidNextToken, "The NextToken is not valid.")
		}
		next = n
	}
	match, err := a.s.lookupFilter(req)
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.LookupEventsResponse{}
	scanned := 0
	first := int64(a.s.audit.store.LogPruned())
	for next > first && len(resp.Events) < limit && scanned < maxLookupScan {
		lo := max(next-lookupChunk, first)
		recs, err := a.s.audit.store.LogRecords(uint64(lo), uint64(next))
		if err != nil {
			return nil, err
		}
		for i := len(recs) - 1; i >= 0 && len(resp.Events) < limit; i-- {
			scanned++
			next = lo + int64(i)
			e, err := audit.ParseEvent(recs[i])
			if err != nil {
				// Damaged in the store: verification names it.
				a.s.log.WarnContext(ctx, "audit record unreadable; run kmsctl audit verify", "index", next, "err", err)
				continue
			}
			if match(e) {
				resp.Events = append(resp.Events, &kmsv1.AuditEvent{Index: next, EventId: e.EventID, Record: recs[i]})
			}
		}
		if len(resp.Events) < limit {
			next = lo
		}
	}
	if next > first {
		resp.NextToken = strconv.FormatInt(next, 10)
	}
	return resp, nil
}

// lookupFilter returns the predicate of a LookupEvents request.
func (s *Server) lookupFilter(req *kmsv1.LookupEventsRequest) (func(*audit.Event) bool, error) {
	var start, end time.Time
	if req.StartTime != nil {
		start = req.GetStartTime().AsTime()
	}
	if req.EndTime != nil {
		end = req.GetEndTime().AsTime()
	}
	if !start.IsZero() && !end.IsZero() && end.Before(start) {
		return nil, validationError("EndTime must not be before StartTime.")
	}
	keyID := req.GetKeyId()
	if keyID != "" {
		if k, err := s.resolveKey(keyID, allowAlias); err == nil {
			keyID = s.keyARN(k.ID)
		}
	}
	return func(e *audit.Event) bool {
		t := e.EventTime.Time
		switch {
		case !start.IsZero() && t.Before(start), !end.IsZero() && t.After(end):
			return false
		case req.GetEventName() != "" && e.EventName != req.GetEventName():
			return false
		case req.GetErrorCode() != "" && e.ErrorCode != req.GetErrorCode():
			return false
		case req.GetEventId() != "" && e.EventID != req.GetEventId():
			return false
		case req.GetUserName() != "" && !matchesUser(e.UserIdentity, req.GetUserName()):
			return false
		case keyID != "" && !touchesKey(e, keyID):
			return false
		}
		return true
	}, nil
}

func matchesUser(u audit.UserIdentity, name string) bool {
	return u.PrincipalID == name || u.ARN == name || u.AccessKeyID == name ||
		strings.HasSuffix(u.ARN, "/"+name)
}

// touchesKey reports whether e names the key (an ARN, or a bare key id).
func touchesKey(e *audit.Event, key string) bool {
	for _, r := range e.Resources {
		if r.ARN == key || strings.HasSuffix(r.ARN, ":key/"+key) {
			return true
		}
	}
	return false
}

func (a *auditService) GetEvents(ctx context.Context, req *kmsv1.GetEventsRequest) (*kmsv1.GetEventsResponse, error) {
	limit, err := maxResults(req.GetMaxResults(), defaultGetResults, maxGetResults)
	if err != nil {
		return nil, err
	}
	if req.GetStartIndex() < 0 {
		return nil, validationError("StartIndex must not be negative.")
	}
	size, _ := a.s.audit.Size()
	first := int64(a.s.audit.store.LogPruned())
	start := max(req.GetStartIndex(), first)
	events, err := a.s.eventsAt(start, min(start+int64(limit), size))
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetEventsResponse{Events: events, TreeSize: size, FirstIndex: first}, nil
}

// eventsAt returns the records at positions [lo, hi).
func (s *Server) eventsAt(lo, hi int64) ([]*kmsv1.AuditEvent, error) {
	if lo >= hi {
		return nil, nil
	}
	recs, err := s.audit.store.LogRecords(uint64(lo), uint64(hi))
	if err != nil {
		return nil, err
	}
	out := make([]*kmsv1.AuditEvent, 0, len(recs))
	bytes := 0
	for i, r := range recs {
		// A page stays well inside a client's default 4 MiB message
		// limit: it ends early, and the caller asks again from there.
		if bytes += len(r) + 128; bytes > maxEventsBytes && i > 0 {
			break
		}
		out = append(out, &kmsv1.AuditEvent{Index: lo + int64(i), EventId: eventIDOf(r), Record: r})
	}
	return out, nil
}

// maxEventsBytes bounds the records of one GetEvents page or TailEvents
// message.
const maxEventsBytes = 2 << 20

// eventIDOf reads a record's eventID without decoding the rest.
func eventIDOf(rec []byte) string {
	var e struct {
		EventID string `json:"eventID"`
	}
	json.Unmarshal(rec, &e)
	return e.EventID
}

func (a *auditService) TailEvents(req *kmsv1.TailEventsRequest, stream kmsv1.AuditService_TailEventsServer) error {
	ctx := stream.Context()
	if err := a.s.auditBarrier(ctx); err != nil {
		return toStatus(ctx, a.s.log, "TailEvents", err)
	}
	size, changed := a.s.audit.Size()
	next := req.GetStartIndex()
	if next < 0 || next > size {
		next = size
	}
	for {
		next = max(next, int64(a.s.audit.store.LogPruned()))
		for next < size {
			events, err := a.s.eventsAt(next, min(next+tailChunk, size))
			if err != nil {
				return toStatus(ctx, a.s.log, "TailEvents", err)
			}
			for _, e := range events {
				if err := stream.Send(e); err != nil {
					return err
				}
			}
			next += int64(len(events))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-a.s.calls.stopping():
			return toStatus(ctx, a.s.log, "TailEvents", errClosing)
		case <-changed:
		}
		size, changed = a.s.audit.Size()
	}
}

func (a *auditService) GetSignedTreeHeads(ctx context.Context, req *kmsv1.GetSignedTreeHeadsRequest) (*kmsv1.GetSignedTreeHeadsResponse, error) {
	def, max := defaultGetResults, maxGetResults
	if req.GetIncludeLeafHashes() {
		def, max = maxHeadsWithLeaves, maxHeadsWithLeaves
	}
	limit, err := maxResults(req.GetMaxResults(), def, max)
	if err != nil {
		return nil, err
	}
	if req.GetStartIndex() < 0 {
		return nil, validationError("StartIndex must not be negative.")
	}
	count := a.s.audit.store.LogHeadCount()
	lo := uint64(req.GetStartIndex())
	raw, err := a.s.audit.store.LogHeads(lo, lo+uint64(limit))
	if err != nil {
		return nil, err
	}
	resp := &kmsv1.GetSignedTreeHeadsResponse{Count: int64(count)}
	for i, b := range raw {
		sth, err := decodeHead(b)
		if err != nil {
			// Damaged in the store: an empty head fails verification.
			a.s.log.WarnContext(ctx, "signed tree head unreadable; run kmsctl audit verify", "sequence", lo+uint64(i), "err", err)
			resp.Heads = append(resp.Heads, &kmsv1.SignedTreeHead{})
			continue
		}
		h := headProto(sth)
		if req.GetIncludeLeafHashes() {
			h.LeafHashes = hashBytes(sth.Leaves)
		}
		resp.Heads = append(resp.Heads, h)
	}
	return resp, nil
}

func (a *auditService) SignTreeHead(ctx context.Context, _ *kmsv1.SignTreeHeadRequest) (*kmsv1.SignTreeHeadResponse, error) {
	sth, err := a.s.signHead(ctx)
	var ue errUnauthenticRecord
	if errors.As(err, &ue) {
		return nil, newAPIError(codes.FailedPrecondition, excInvalidState,
			"Audit record %d was not written by kmsd, so no tree head is signed over it or after it. Run kmsctl audit verify.", ue.pos)
	}
	if err != nil {
		return nil, err
	}
	return &kmsv1.SignTreeHeadResponse{Head: headProto(sth)}, nil
}

func (a *auditService) GetInclusionProof(ctx context.Context, req *kmsv1.GetInclusionProofRequest) (*kmsv1.GetInclusionProofResponse, error) {
	index := req.GetIndex()
	if id := req.GetEventId(); id != "" {
		pos, ok, err := a.s.audit.store.LogPosition(id)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, notFound("No audit record has event id %q.", truncate(id, 64))
		}
		index = int64(pos)
	}
	size, _ := a.s.audit.Size()
	if index < 0 || index >= size {
		return nil, notFound("No audit record has index %d.", index)
	}
	if first := int64(a.s.audit.store.LogPruned()); index < first {
		return nil, notFound("Audit record %d was archived and removed by the retention policy; prove it from the archive.", index)
	}
	sth, err := a.s.headFor(ctx, index, req.GetTreeSize())
	if err != nil {
		return nil, err
	}
	var path []audit.Hash
	err = a.s.audit.withTree(func(t *audit.Tree) (err error) {
		path, err = t.InclusionProof(index, int64(sth.Head.Size))
		return err
	})
	if err != nil {
		return nil, err
	}
	events, err := a.s.eventsAt(index, index+1)
	if err != nil {
		return nil, err
	}
	pub, err := a.s.publicKey(ctx)
	if err != nil {
		return nil, err
	}
	return &kmsv1.GetInclusionProofResponse{Event: events[0], Head: headProto(sth), AuditPath: hashBytes(path), PublicKey: pub}, nil
}

// headFor returns the signed head of the given tree size, or with size 0
// the newest head, signing one first if the newest does not cover index.
func (s *Server) headFor(ctx context.Context, index, size int64) (audit.SignedTreeHead, error) {
	if size == 0 {
		last, n, err := s.lastHead()
		if err != nil {
			return last, err
		}
		if n > 0 && int64(last.Head.Size) > index {
			return last, nil
		}
		return s.signHead(ctx)
	}
	if size <= index {
		return audit.SignedTreeHead{}, validationError("TreeSize must be above the record's index.")
	}
	n := s.audit.store.LogHeadCount()
	// Head sizes grow with their sequence numbers: binary search.
	var found *audit.SignedTreeHead
	var searchErr error
	i := sort.Search(int(n), func(i int) bool {
		hs, err := s.audit.store.LogHeads(uint64(i), uint64(i)+1)
		if err != nil || len(hs) == 0 {
			searchErr = err
			return true
		}
		sth, err := decodeHead(hs[0])
		if err != nil {
			searchErr = err
			return true
		}
		if int64(sth.Head.Size) == size {
			found = &sth
		}
		return int64(sth.Head.Size) >= size
	})
	if searchErr != nil {
		return audit.SignedTreeHead{}, searchErr
	}
	if found == nil || i >= int(n) {
		return audit.SignedTreeHead{}, notFound("No signed tree head has size %d.", size)
	}
	return *found, nil
}

func (a *auditService) GetConsistencyProof(ctx context.Context, req *kmsv1.GetConsistencyProofRequest) (*kmsv1.GetConsistencyProofResponse, error) {
	m, n := req.GetFirstSize(), req.GetSecondSize()
	size, _ := a.s.audit.Size()
	if m <= 0 || m > n || n > size {
		return nil, validationError("Need 0 < FirstSize <= SecondSize <= %d.", size)
	}
	resp := &kmsv1.GetConsistencyProofResponse{}
	err := a.s.audit.withTree(func(t *audit.Tree) error {
		proof, err := t.ConsistencyProof(m, n)
		if err != nil {
			return err
		}
		r1, err := t.Root(m)
		if err != nil {
			return err
		}
		r2, err := t.Root(n)
		if err != nil {
			return err
		}
		resp.Proof, resp.FirstRoot, resp.SecondRoot = hashBytes(proof), r1[:], r2[:]
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func (a *auditService) GetPublicKey(ctx context.Context, _ *kmsv1.GetPublicKeyRequest) (*kmsv1.GetPublicKeyResponse, error) {
	pub, err := a.s.publicKey(ctx)
	if err != nil {
		return nil, err
	}
	id := audit.KeyIDOf(pub)
	return &kmsv1.GetPublicKeyResponse{PublicKey: pub, KeyId: id[:]}, nil
}

func headProto(sth audit.SignedTreeHead) *kmsv1.SignedTreeHead {
	h := sth.Head
	return &kmsv1.SignedTreeHead{
		Head: h.Marshal(), Signature: sth.Signature, KeyId: sth.KeyID[:],
		TreeSize: int64(h.Size), RootHash: h.Root[:], Timestamp: timestamppb.New(h.Timestamp),
		PreviousTreeSize: int64(h.PrevSize),
	}
}

func hashBytes(hs []audit.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// maxResults validates a MaxResults parameter.
func maxResults(v int32, def, max int) (int, error) {
	if v == 0 {
		return def, nil
	}
	if v < 1 || int(v) > max {
		return 0, validationError("1 validation error detected: Value '%d' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and %d", v, max)
	}
	return int(v), nil
}
