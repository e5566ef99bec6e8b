package server

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestCloseEndsStreamsAndWaits: Close ends a running audit tail and returns
// only once its handler has, so the store can be closed after it; calls
// made afterwards are refused.
func TestCloseEndsStreamsAndWaits(t *testing.T) {
	h := newHarness(t)
	h.createKey(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := h.audit.TailEvents(ctx, &kmsv1.TailEventsRequest{StartIndex: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { h.srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return with a tail running")
	}
	// The tail ended with the server, not with the caller's deadline.
	for {
		_, err := st.Recv()
		if err != nil {
			if status.Code(err) != codes.Unavailable {
				t.Fatalf("the tail ended with %v, want Unavailable", err)
			}
			break
		}
	}
	if h.srv.calls.n != 0 {
		t.Fatalf("%d calls still counted after Close", h.srv.calls.n)
	}
	_, err = h.client.ListKeys(ctx, &kmsv1.ListKeysRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("a call after Close: %v, want Unavailable", err)
	}
}
