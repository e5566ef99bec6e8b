package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// fakeAudit is an in-process AuditService over a real audit log of
// fakeAuditRecords records with a head signed every four. Record i has
// eventID "evt-i", eventName Decrypt for even i and Encrypt for odd, and
// key k0 or k1. tampered[i] replaces the bytes served for record i, as an
// attacker with access to the store would (empty bytes: the record was
// removed), and badHeads[i] serves head i empty, as kmsd does when it
// cannot read it; signing then fails if the newest head is bad. Records
// before pruned were removed by retention. TailEvents sends the records
// from StartIndex, then waits for the client to hang up if tailBlocks.
type fakeAudit struct {
	kmsv1.UnimplementedAuditServiceServer
	mu         sync.Mutex
	priv       ed25519.PrivateKey
	records    [][]byte
	tree       audit.Tree
	heads      []audit.SignedTreeHead
	tampered   map[int64][]byte
	badHeads   map[int]bool
	pruned     int64
	tailBlocks bool
	reqs       []proto.Message
}

const fakeAuditRecords = 10

var fakeAuditStart = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fakeAuditKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func newFakeAudit() *fakeAudit {
	f := &fakeAudit{priv: fakeAuditKey("kmsd"), tampered: map[int64][]byte{}, badHeads: map[int]bool{}}
	for i := range fakeAuditRecords {
		f.append(fakeEvent(i))
		if (i+1)%4 == 0 {
			f.sign()
		}
	}
	return f
}

func fakeEvent(i int) *audit.Event {
	name := []string{"Decrypt", "Encrypt"}[i%2]
	key := fmt.Sprint("k", i%2)
	e := &audit.Event{EventVersion: audit.EventVersion, EventSource: audit.EventSource, EventName: name,
		EventTime:    audit.Time{Time: fakeAuditStart.Add(time.Duration(i) * time.Minute)},
		UserIdentity: audit.UserIdentity{Type: "IAMUser", PrincipalID: "alice"}, AWSRegion: "eu-west-1",
		RequestParameters: map[string]any{"keyId": key, "encryptionContext": map[string]any{"<&>": "x"}},
		RequestID:         fmt.Sprint("req-", i), EventID: fmt.Sprint("evt-", i), ReadOnly: true,
		Resources: []audit.Resource{{Type: audit.ResourceTypeKey, ARN: "arn:aws:kms:eu-west-1:111122223333:key/" + key}},
		EventType: audit.EventTypeAPICall, ManagementEvent: true, EventCategory: audit.EventCategoryManagement}
	if i%5 == 4 {
		e.ErrorCode, e.ErrorMessage = "AccessDeniedException", "denied"
	}
	return e
}

func (f *fakeAudit) append(e *audit.Event) {
	b, err := e.Canonical()
	if err != nil {
		panic(err)
	}
	f.records = append(f.records, b)
	f.tree.Append(audit.LeafHash(b))
}

// sign signs a head over every record, if any was added since the last.
func (f *fakeAudit) sign() audit.SignedTreeHead {
	var prev uint64
	if n := len(f.heads); n > 0 {
		prev = f.heads[n-1].Head.Size
	}
	size := uint64(f.tree.Size())
	if size == prev && len(f.heads) > 0 {
		return f.heads[len(f.heads)-1]
	}
	root, _ := f.tree.Root(int64(size))
	sth, err := audit.Sign(f.priv, audit.TreeHead{Size: size, Root: root, PrevSize: prev,
		Timestamp: fakeAuditStart.Add(time.Duration(len(f.heads)) * time.Hour)})
	if err != nil {
		panic(err)
	}
	sth.Leaves, _ = f.tree.LeafHashes(int64(prev), int64(size))
	f.heads = append(f.heads, sth)
	return sth
}

func (f *fakeAudit) pub() ed25519.PublicKey { return f.priv.Public().(ed25519.PublicKey) }

func (f *fakeAudit) record(m proto.Message) {
	f.reqs = append(f.reqs, m)
}

func (f *fakeAudit) requests() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.reqs...)
}

// event returns record i as served.
func (f *fakeAudit) event(i int64) *kmsv1.AuditEvent {
	rec := f.records[i]
	if t, ok := f.tampered[i]; ok {
		rec = t
	}
	return &kmsv1.AuditEvent{Index: i, EventId: fmt.Sprint("evt-", i), Record: rec}
}

// LookupEvents matches EventName only, newest first; NextToken is the
// index below which to continue.
func (f *fakeAudit) LookupEvents(ctx context.Context, r *kmsv1.LookupEventsRequest) (*kmsv1.LookupEventsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	next := int64(len(f.records))
	if r.GetNextToken() != "" {
		next, _ = strconv.ParseInt(r.GetNextToken(), 10, 64)
	}
	limit := int(r.GetMaxResults())
	if limit == 0 {
		limit = 3
	}
	resp := &kmsv1.LookupEventsResponse{}
	for ; next > 0 && len(resp.Events) < limit; next-- {
		if e := fakeEvent(int(next - 1)); r.GetEventName() == "" || e.EventName == r.GetEventName() {
			resp.Events = append(resp.Events, f.event(next-1))
		}
	}
	if next > 0 {
		resp.NextToken = strconv.FormatInt(next, 10)
	}
	return resp, nil
}

func (f *fakeAudit) GetEvents(ctx context.Context, r *kmsv1.GetEventsRequest) (*kmsv1.GetEventsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	resp := &kmsv1.GetEventsResponse{TreeSize: int64(len(f.records)), FirstIndex: f.pruned}
	start := max(r.GetStartIndex(), f.pruned)
	for i := start; i < int64(len(f.records)) && i < start+int64(r.GetMaxResults()); i++ {
		resp.Events = append(resp.Events, f.event(i))
	}
	return resp, nil
}

func (f *fakeAudit) TailEvents(r *kmsv1.TailEventsRequest, stream kmsv1.AuditService_TailEventsServer) error {
	f.mu.Lock()
	var events []*kmsv1.AuditEvent
	for i := max(r.GetStartIndex(), 0); r.GetStartIndex() >= 0 && i < int64(len(f.records)); i++ {
		events = append(events, f.event(i))
	}
	blocks := f.tailBlocks
	f.mu.Unlock()
	for _, e := range events {
		if err := stream.Send(e); err != nil {
			return err
		}
	}
	if blocks {
		<-stream.Context().Done()
	}
	return nil
}

func headProto(sth audit.SignedTreeHead) *kmsv1.SignedTreeHead {
	return &kmsv1.SignedTreeHead{Head: sth.Head.Marshal(), Signature: sth.Signature, KeyId: sth.KeyID[:],
		TreeSize: int64(sth.Head.Size), RootHash: sth.Head.Root[:], Timestamp: timestamppb.New(sth.Head.Timestamp),
		PreviousTreeSize: int64(sth.Head.PrevSize)}
}

// GetSignedTreeHeads serves at most two heads per page, and refuses more
// than 10 with their leaf hashes as kmsd does.
func (f *fakeAudit) GetSignedTreeHeads(ctx context.Context, r *kmsv1.GetSignedTreeHeadsRequest) (*kmsv1.GetSignedTreeHeadsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	if r.GetIncludeLeafHashes() && r.GetMaxResults() > 10 {
		return nil, status.Error(codes.InvalidArgument, "MaxResults must be between 1 and 10 with IncludeLeafHashes")
	}
	resp := &kmsv1.GetSignedTreeHeadsResponse{Count: int64(len(f.heads))}
	for i := r.GetStartIndex(); i < int64(len(f.heads)) && i < r.GetStartIndex()+2; i++ {
		h := headProto(f.heads[i])
		if r.GetIncludeLeafHashes() {
			for _, l := range f.heads[i].Leaves {
				h.LeafHashes = append(h.LeafHashes, l[:])
			}
		}
		if f.badHeads[int(i)] {
			h = &kmsv1.SignedTreeHead{}
		}
		resp.Heads = append(resp.Heads, h)
	}
	return resp, nil
}

func (f *fakeAudit) SignTreeHead(ctx context.Context, r *kmsv1.SignTreeHeadRequest) (*kmsv1.SignTreeHeadResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	if f.badHeads[len(f.heads)-1] {
		return nil, status.Error(codes.Internal, "internal error")
	}
	return &kmsv1.SignTreeHeadResponse{Head: headProto(f.sign())}, nil
}

func (f *fakeAudit) GetInclusionProof(ctx context.Context, r *kmsv1.GetInclusionProofRequest) (*kmsv1.GetInclusionProofResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	index := r.GetIndex()
	if id := r.GetEventId(); id != "" {
		n, err := strconv.ParseInt(id[len("evt-"):], 10, 64)
		if err != nil || n >= int64(len(f.records)) {
			st, _ := status.New(codes.NotFound, "No audit record has event id "+strconv.Quote(id)+".").WithDetails(
				&errdetails.ErrorInfo{Reason: "NotFoundException", Domain: "kms.v1"})
			return nil, st.Err()
		}
		index = n
	}
	sth := f.sign()
	path, err := f.tree.InclusionProof(index, int64(sth.Head.Size))
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	resp := &kmsv1.GetInclusionProofResponse{Event: f.event(index), Head: headProto(sth), PublicKey: f.pub()}
	for _, h := range path {
		resp.AuditPath = append(resp.AuditPath, h[:])
	}
	return resp, nil
}

func (f *fakeAudit) GetPublicKey(ctx context.Context, r *kmsv1.GetPublicKeyRequest) (*kmsv1.GetPublicKeyResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record(r)
	id := audit.KeyIDOf(f.pub())
	return &kmsv1.GetPublicKeyResponse{PublicKey: f.pub(), KeyId: id[:]}, nil
}
