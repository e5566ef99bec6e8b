package server

import (
	"context"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/cluster"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

type fakeStorage struct{ full atomic.Bool }

func (f *fakeStorage) StorageCheck() error {
	if f.full.Load() {
		return cluster.ErrStorageFull
	}
	return nil
}

// TestStorageFullRefusesCalls: while the data directory is nearly full,
// every call that would write (all audited calls: their records) answers
// StorageFullException (ResourceExhausted), changes nothing and adds no
// audit record; afterwards calls work again.
func TestStorageFullRefusesCalls(t *testing.T) {
	st := &fakeStorage{}
	a := newAuthServer(t, func(c *Config) { c.Storage = st })
	ctx := context.Background()
	conn := a.signed(t, a.root, a.clock.Now)
	kms := kmsv1.NewKeyManagementServiceClient(conn)
	k, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetKeyMetadata().GetKeyId()
	records := len(auditRecordsOf(t, a))
	st.full.Store(true)
	for name, call := range map[string]func() error{
		"Encrypt": func() error {
			_, err := kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keyID, Plaintext: []byte("x")})
			return err
		},
		"CreateKey":   func() error { _, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{}); return err },
		"DisableKey":  func() error { _, err := kms.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: keyID}); return err },
		"DescribeKey": func() error { _, err := kms.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID}); return err },
	} {
		err := call()
		if status.Code(err) != codes.ResourceExhausted || ExceptionName(err) != excStorageFull {
			t.Errorf("%s with the data directory nearly full: %v, want %s", name, err, excStorageFull)
		}
	}
	st.full.Store(false)
	if got := len(auditRecordsOf(t, a)); got != records+1 { // +1: the GetEvents call that counted first
		t.Errorf("audit records: %d before, %d after the refusals (and one read), want no refusal recorded", records, got)
	}
	d, err := kms.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: keyID})
	if err != nil || d.GetKeyMetadata().GetKeyState() != "Enabled" {
		t.Fatalf("after space came back: %v %v (the refused DisableKey must not have happened)", d.GetKeyMetadata().GetKeyState(), err)
	}
}
