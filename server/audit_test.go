package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// allEvents reads the whole audit log through the API.
func (h *harness) allEvents(t *testing.T) []*audit.Event {
	t.Helper()
	recs := h.allRecords(t)
	out := make([]*audit.Event, len(recs))
	for i, r := range recs {
		e, err := audit.ParseEvent(r)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		out[i] = e
	}
	return out
}

func (h *harness) allRecords(t *testing.T) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		resp, err := h.audit.GetEvents(context.Background(), &kmsv1.GetEventsRequest{StartIndex: int64(len(out))})
		if err != nil {
			t.Fatal(err)
		}
		for i, e := range resp.GetEvents() {
			if e.GetIndex() != int64(len(out)) {
				t.Fatalf("event %d has index %d", len(out)+i, e.GetIndex())
			}
			out = append(out, e.GetRecord())
		}
		if len(resp.GetEvents()) == 0 || int64(len(out)) >= resp.GetTreeSize() {
			return out
		}
	}
}

// byEventID finds the record with the given event id.
func byEventID(t *testing.T, events []*audit.Event, id string) *audit.Event {
	t.Helper()
	var found *audit.Event
	for _, e := range events {
		if e.EventID == id {
			if found != nil {
				t.Fatalf("two records with event id %s", id)
			}
			found = e
		}
	}
	if found == nil {
		t.Fatalf("no record with event id %s", id)
	}
	return found
}

func TestEveryCallIsRecorded(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	ec := map[string]string{"tenant": "acme"}
	canary := []byte("canary-plaintext-7f3a")

	type call struct {
		name      string
		do        func(opts ...grpc.CallOption) error
		errorCode string
		readOnly  bool
		params    map[string]any
	}
	var blob []byte
	calls := []call{
		{"Encrypt", func(o ...grpc.CallOption) error {
			r, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: md.GetKeyId(), Plaintext: canary, EncryptionContext: ec}, o...)
			blob = r.GetCiphertextBlob()
			return err
		}, "", true, map[string]any{"keyId": md.GetKeyId(), "encryptionContext": map[string]any{"tenant": "acme"}}},
		{"Decrypt", func(o ...grpc.CallOption) error {
			_, err := h.client.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: blob, EncryptionContext: map[string]string{"tenant": "other"}}, o...)
			return err
		}, excInvalidCiphertxt, true, map[string]any{"encryptionContext": map[string]any{"tenant": "other"}}},
		{"GenerateDataKey", func(o ...grpc.CallOption) error {
			_, err := h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: md.GetArn(), KeySpec: "AES_256"}, o...)
			return err
		}, "", true, map[string]any{"keyId": md.GetArn(), "keySpec": "AES_256"}},
		{"DescribeKey", func(o ...grpc.CallOption) error {
			_, err := h.client.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: "11111111-2222-4333-8444-555555555555"}, o...)
			return err
		}, excNotFound, true, map[string]any{"keyId": "11111111-2222-4333-8444-555555555555"}},
		{"ScheduleKeyDeletion", func(o ...grpc.CallOption) error {
			_, err := h.client.ScheduleKeyDeletion(ctx, &kmsv1.ScheduleKeyDeletionRequest{KeyId: md.GetKeyId(), PendingWindowInDays: 3}, o...)
			return err
		}, excValidation, false, map[string]any{"keyId": md.GetKeyId(), "pendingWindowInDays": float64(3)}},
		{"DisableKey", func(o ...grpc.CallOption) error {
			_, err := h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: md.GetKeyId()}, o...)
			return err
		}, "", false, map[string]any{"keyId": md.GetKeyId()}},
	}
	ids := map[string]call{}
	for _, c := range calls {
		var hdr metadata.MD
		err := c.do(grpc.Header(&hdr))
		if got := ExceptionName(err); got != c.errorCode {
			t.Fatalf("%s: exception %q, want %q (%v)", c.name, got, c.errorCode, err)
		}
		id := hdr.Get(HeaderEventID)
		if len(id) != 1 || len(hdr.Get(HeaderRequestID)) != 1 {
			t.Fatalf("%s: response header %v lacks the event and request ids", c.name, hdr)
		}
		ids[id[0]] = c
	}
	events := h.allEvents(t)
	// CreateKey of the harness, then the calls above.
	if len(events) != 1+len(calls) {
		t.Fatalf("%d records, want %d", len(events), 1+len(calls))
	}
	for id, c := range ids {
		e := byEventID(t, events, id)
		if e.EventName != c.name || e.ErrorCode != c.errorCode || e.ReadOnly != c.readOnly ||
			e.EventType != audit.EventTypeAPICall || e.EventSource != audit.EventSource ||
			e.AWSRegion != DefaultRegion || e.SourceIPAddress != "127.0.0.1" || !strings.Contains(e.UserAgent, "grpc-go") ||
			e.RequestID == "" || e.UserIdentity.AccountID != DefaultAccountID {
			t.Errorf("%s: record %+v", c.name, e)
		}
		if (c.errorCode != "") != (e.ErrorMessage != "") {
			t.Errorf("%s: errorMessage %q with errorCode %q", c.name, e.ErrorMessage, e.ErrorCode)
		}
		for k, want := range c.params {
			got := fmt.Sprint(normalize(e.RequestParameters[k]))
			if got != fmt.Sprint(want) {
				t.Errorf("%s: requestParameters[%s] = %s, want %v", c.name, k, got, want)
			}
		}
		if len(e.Resources) > 0 && e.Resources[0].ARN != md.GetArn() {
			t.Errorf("%s: resources %+v", c.name, e.Resources)
		}
		if c.errorCode != excNotFound && c.errorCode != excInvalidCiphertxt && len(e.Resources) != 1 {
			t.Errorf("%s: resources %+v, want the key", c.name, e.Resources)
		}
		if c.name == "DisableKey" && e.ResponseElements != nil {
			t.Errorf("DisableKey: responseElements %v", e.ResponseElements)
		}
	}
	created := events[0]
	if created.EventName != "CreateKey" || created.ReadOnly || created.ResponseElements["keyMetadata"] == nil {
		t.Errorf("CreateKey record %+v", created)
	}
	for i, r := range h.allRecords(t) {
		for _, secret := range [][]byte{canary, blob} {
			for _, enc := range []string{string(secret), base64.StdEncoding.EncodeToString(secret), hex.EncodeToString(secret)} {
				if bytes.Contains(r, []byte(enc)) {
					t.Errorf("record %d contains a secret: %s", i, r)
				}
			}
		}
	}
}

// normalize turns json.Number and nested maps into comparable values.
func normalize(v any) any {
	switch x := v.(type) {
	case interface{ Float64() (float64, error) }:
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := map[string]any{}
		for k, v := range x {
			out[k] = normalize(v)
		}
		return out
	}
	return v
}

func TestAuditFailureFailsTheRequest(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	md := h.createKey(t)
	before := len(h.allRecords(t))
	h.prop.setAuditFailure(errors.New("disk full"))
	gdk, err := h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: md.GetKeyId(), NumberOfBytes: 32})
	wantException(t, err, excDependency)
	if gdk != nil {
		t.Fatalf("a data key left the server without its audit record: %d bytes", len(gdk.GetPlaintext()))
	}
	if !strings.Contains(err.Error(), "audit record") {
		t.Errorf("error does not say why: %v", err)
	}
	_, err = h.client.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: md.GetKeyId()})
	wantException(t, err, excDependency)
	h.prop.setAuditFailure(nil)
	// The DisableKey change was committed before its record failed, as
	// its error warned.
	_, err = h.client.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: md.GetKeyId(), NumberOfBytes: 32})
	wantException(t, err, excDisabled)
	// Recorded since: the GetEvents call that counted, and the last
	// GenerateDataKey. The failed calls left nothing.
	if n := len(h.allRecords(t)); n != before+2 {
		t.Fatalf("%d records after recovery, want %d", n, before+2)
	}
}

func TestGroupCommit(t *testing.T) {
	h := newHarness(t)
	md := h.createKey(t)
	counter := &countingAuditProposer{AuditProposer: h.prop}
	h.srv.auditW.commitBatch = func(ctx context.Context, records [][]byte, ids []string, macs [][]byte) error {
		_, err := counter.AppendAudit(ctx, records, ids, macs)
		return err
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() {
			_, err := h.client.GenerateDataKey(context.Background(), &kmsv1.GenerateDataKeyRequest{KeyId: md.GetKeyId(), NumberOfBytes: 16})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(h.allRecords(t)); got != n+1 {
		t.Fatalf("%d records, want %d", got, n+1)
	}
	calls, records := counter.counts()
	t.Logf("%d records in %d log entries", records, calls)
	// The GetEvents call above is recorded through the counter too.
	if records != n+1 || calls >= n {
		t.Fatalf("%d records in %d entries: no group commit", records, calls)
	}
}

type countingAuditProposer struct {
	AuditProposer
	mu             sync.Mutex
	calls, records int
}

func (c *countingAuditProposer) AppendAudit(ctx context.Context, records [][]byte, ids []string, macs [][]byte) (uint64, error) {
	c.mu.Lock()
	c.calls++
	c.records += len(records)
	c.mu.Unlock()
	return c.AuditProposer.AppendAudit(ctx, records, ids, macs)
}

func (c *countingAuditProposer) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.records
}

func TestLookupEvents(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	a, b := h.createKey(t), h.createKey(t)
	for range 3 {
		h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: a.GetKeyId(), Plaintext: []byte("x")})
	}
	h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: b.GetKeyId(), Plaintext: []byte("x")})
	h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: a.GetKeyId()}) // ValidationException
	for _, c := range []struct {
		name string
		req  *kmsv1.LookupEventsRequest
		want int
	}{
		{"all", &kmsv1.LookupEventsRequest{}, 7},
		{"by name", &kmsv1.LookupEventsRequest{EventName: "Encrypt"}, 5},
		{"by key id", &kmsv1.LookupEventsRequest{KeyId: a.GetKeyId()}, 5},
		{"by key arn", &kmsv1.LookupEventsRequest{KeyId: b.GetArn(), EventName: "Encrypt"}, 1},
		{"by error", &kmsv1.LookupEventsRequest{ErrorCode: excValidation}, 1},
		{"by user", &kmsv1.LookupEventsRequest{UserName: DefaultAccountID, EventName: "CreateKey"}, 2},
		{"nobody", &kmsv1.LookupEventsRequest{UserName: "mallory"}, 0},
	} {
		var got []*kmsv1.AuditEvent
		token := ""
		for page := 0; ; page++ {
			req := c.req
			req.MaxResults, req.NextToken = 2, token
			resp, err := h.audit.LookupEvents(ctx, req)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			got = append(got, resp.GetEvents()...)
			if token = resp.GetNextToken(); token == "" || page > 20 {
				break
			}
		}
		// Lookups are recorded too, but only after they answer, and no
		// filter above but "all" matches them.
		if len(got) != c.want {
			t.Errorf("%s: %d events, want %d", c.name, len(got), c.want)
		}
		for i := 1; i < len(got); i++ {
			if got[i].GetIndex() >= got[i-1].GetIndex() {
				t.Errorf("%s: not newest first", c.name)
			}
		}
	}
	_, err := h.audit.LookupEvents(ctx, &kmsv1.LookupEventsRequest{NextToken: "x"})
	wantException(t, err, excInvalidNextToken)
}

// TestAuditConfigNotChangeableOverAPI (TESTPLAN A5): where the audit log
// goes and whether it is on is configuration only; no RPC can change it.
// AuditService offers reading, proving and signing, nothing else.
func TestAuditConfigNotChangeableOverAPI(t *testing.T) {
	want := []string{"GetConsistencyProof", "GetEvents", "GetInclusionProof", "GetPublicKey", "GetSignedTreeHeads",
		"LookupEvents", "SignTreeHead", "TailEvents"}
	var got []string
	for _, m := range kmsv1.AuditService_ServiceDesc.Methods {
		got = append(got, m.MethodName)
	}
	for _, s := range kmsv1.AuditService_ServiceDesc.Streams {
		got = append(got, s.StreamName)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("AuditService methods %v, want %v", got, want)
	}
	for _, m := range kmsv1.KeyManagementService_ServiceDesc.Methods {
		if strings.Contains(strings.ToLower(m.MethodName), "audit") || strings.Contains(m.MethodName, "Trail") {
			t.Errorf("KeyManagementService.%s touches the audit log", m.MethodName)
		}
	}
}

func TestTailEvents(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	md := h.createKey(t)
	stream, err := h.audit.TailEvents(ctx, &kmsv1.TailEventsRequest{StartIndex: 0})
	if err != nil {
		t.Fatal(err)
	}
	hdr, err := stream.Header()
	if err != nil || len(hdr.Get(HeaderEventID)) != 1 {
		t.Fatalf("tail header %v, %v", hdr, err)
	}
	tailID := hdr.Get(HeaderEventID)[0]
	var encIDs []string
	for range 3 {
		var eh metadata.MD
		if _, err := h.client.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: md.GetKeyId(), Plaintext: []byte("x")}, grpc.Header(&eh)); err != nil {
			t.Fatal(err)
		}
		encIDs = append(encIDs, eh.Get(HeaderEventID)[0])
	}
	// CreateKey, the tail's own record, then the three Encrypt calls, in order.
	want := append([]string{"", tailID}, encIDs...)
	for i := range want {
		e, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if e.GetIndex() != int64(i) || (want[i] != "" && e.GetEventId() != want[i]) {
			t.Fatalf("event %d: index %d, id %s, want %s", i, e.GetIndex(), e.GetEventId(), want[i])
		}
	}
	tail := byEventID(t, h.allEvents(t), tailID)
	if tail.EventName != "TailEvents" || !tail.ReadOnly || tail.ErrorCode != "" {
		t.Errorf("tail record %+v", tail)
	}
}
