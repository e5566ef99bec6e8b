package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// fake is an in-process KeyManagementService that records requests.
// Key id "missing" is NotFoundException, "bare" fails without an
// ErrorInfo, "slow" answers after a second. ListKeys serves fakeKeys in
// pages of two unless the request sets Limit. Every answer, error or not,
// carries the header kmsd-event-id: "evt-kms-N" for the N-th request.
type fake struct {
	kmsv1.UnimplementedKeyManagementServiceServer
	mu   sync.Mutex
	reqs []proto.Message
	// audit is the AuditService served alongside (auditfake_test.go).
	audit *fakeAudit
}

var fakeKeys = []string{"k0", "k1", "k2", "k3", "k4"}

func (f *fake) record(ctx context.Context, m proto.Message, keyID string) error {
	f.mu.Lock()
	f.reqs = append(f.reqs, m)
	n := len(f.reqs)
	f.mu.Unlock()
	grpc.SetHeader(ctx, metadata.Pairs(eventIDHeader, fmt.Sprint("evt-kms-", n)))
	switch keyID {
	case "missing":
		st, _ := status.New(codes.NotFound, "key missing not found").WithDetails(
			&errdetails.ErrorInfo{Reason: "NotFoundException", Domain: "kms.v1"})
		return st.Err()
	case "bare":
		return status.Error(codes.FailedPrecondition, "no details")
	case "slow":
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (f *fake) requests() []proto.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]proto.Message(nil), f.reqs...)
}

func fakeMetadata(id string) *kmsv1.KeyMetadata {
	return &kmsv1.KeyMetadata{AwsAccountId: "111122223333", KeyId: id, Arn: "arn:aws:kms:us-east-1:111122223333:key/" + id,
		CreationDate: timestamppb.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), Enabled: true, Description: "d",
		KeyUsage: "ENCRYPT_DECRYPT", KeyState: "Enabled", EncryptionAlgorithms: []string{"SYMMETRIC_DEFAULT"}}
}

func (f *fake) CreateKey(ctx context.Context, r *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error) {
	return &kmsv1.CreateKeyResponse{KeyMetadata: fakeMetadata("new")}, f.record(ctx, r, "")
}

func (f *fake) DescribeKey(ctx context.Context, r *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	if err := f.record(ctx, r, r.GetKeyId()); err != nil {
		return nil, err
	}
	return &kmsv1.DescribeKeyResponse{KeyMetadata: fakeMetadata(r.GetKeyId())}, nil
}

func (f *fake) EnableKey(ctx context.Context, r *kmsv1.EnableKeyRequest) (*kmsv1.EnableKeyResponse, error) {
	return &kmsv1.EnableKeyResponse{}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) ScheduleKeyDeletion(ctx context.Context, r *kmsv1.ScheduleKeyDeletionRequest) (*kmsv1.ScheduleKeyDeletionResponse, error) {
	return &kmsv1.ScheduleKeyDeletionResponse{KeyId: r.GetKeyId(), PendingWindowInDays: r.GetPendingWindowInDays()}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) ListKeys(ctx context.Context, r *kmsv1.ListKeysRequest) (*kmsv1.ListKeysResponse, error) {
	if err := f.record(ctx, r, ""); err != nil {
		return nil, err
	}
	start, _ := strconv.Atoi(r.GetMarker())
	size := int(r.GetLimit())
	if size == 0 {
		size = 2
	}
	end := min(start+size, len(fakeKeys))
	resp := &kmsv1.ListKeysResponse{}
	for _, k := range fakeKeys[start:end] {
		resp.Keys = append(resp.Keys, &kmsv1.KeyListEntry{KeyId: k, KeyArn: "arn:" + k})
	}
	if end < len(fakeKeys) {
		resp.NextMarker, resp.Truncated = strconv.Itoa(end), true
	}
	return resp, nil
}

func (f *fake) ListAliases(ctx context.Context, r *kmsv1.ListAliasesRequest) (*kmsv1.ListAliasesResponse, error) {
	return &kmsv1.ListAliasesResponse{Aliases: []*kmsv1.AliasListEntry{{AliasName: "alias/a", TargetKeyId: "k0"}}}, f.record(ctx, r, "")
}

func (f *fake) TagResource(ctx context.Context, r *kmsv1.TagResourceRequest) (*kmsv1.TagResourceResponse, error) {
	return &kmsv1.TagResourceResponse{}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) UntagResource(ctx context.Context, r *kmsv1.UntagResourceRequest) (*kmsv1.UntagResourceResponse, error) {
	return &kmsv1.UntagResourceResponse{}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) Encrypt(ctx context.Context, r *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	ct := append([]byte("ct:"), r.GetPlaintext()...)
	return &kmsv1.EncryptResponse{CiphertextBlob: ct, KeyId: r.GetKeyId(), EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) Decrypt(ctx context.Context, r *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	pt, _ := bytes.CutPrefix(r.GetCiphertextBlob(), []byte("ct:"))
	return &kmsv1.DecryptResponse{KeyId: "k0", Plaintext: pt, EncryptionAlgorithm: "SYMMETRIC_DEFAULT"}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) ReEncrypt(ctx context.Context, r *kmsv1.ReEncryptRequest) (*kmsv1.ReEncryptResponse, error) {
	return &kmsv1.ReEncryptResponse{CiphertextBlob: []byte("re"), KeyId: r.GetDestinationKeyId()}, f.record(ctx, r, r.GetDestinationKeyId())
}

func (f *fake) GenerateDataKey(ctx context.Context, r *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	return &kmsv1.GenerateDataKeyResponse{CiphertextBlob: []byte("wrapped"), Plaintext: []byte{0, 1, 2}, KeyId: r.GetKeyId()}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) GenerateDataKeyWithoutPlaintext(ctx context.Context, r *kmsv1.GenerateDataKeyWithoutPlaintextRequest) (*kmsv1.GenerateDataKeyWithoutPlaintextResponse, error) {
	return &kmsv1.GenerateDataKeyWithoutPlaintextResponse{CiphertextBlob: []byte("wrapped"), KeyId: r.GetKeyId()}, f.record(ctx, r, r.GetKeyId())
}

func (f *fake) GenerateRandom(ctx context.Context, r *kmsv1.GenerateRandomRequest) (*kmsv1.GenerateRandomResponse, error) {
	out := make([]byte, r.GetNumberOfBytes())
	for i := range out {
		out[i] = byte(255 - i)
	}
	return &kmsv1.GenerateRandomResponse{Plaintext: out}, f.record(ctx, r, "")
}

// startFake serves a fake on a 127.0.0.1 port and returns its address.
func startFake(t *testing.T) (*fake, string) {
	t.Helper()
	f, addr, stop, err := serveFake()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return f, addr
}

// serveFake serves a fake on a 127.0.0.1 port; stop shuts it down.
func serveFake() (f *fake, addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	f = &fake{audit: newFakeAudit()}
	s := grpc.NewServer()
	kmsv1.RegisterKeyManagementServiceServer(s, f)
	kmsv1.RegisterAuditServiceServer(s, f.audit)
	go s.Serve(lis)
	return f, lis.Addr().String(), s.Stop, nil
}

// ctl runs kmsctl against addr and returns its output and exit status.
func ctl(t *testing.T, addr, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	args = append([]string{"--endpoint", addr}, args...)
	code = run(context.Background(), args, bytes.NewBufferString(stdin), &out, &errb)
	return out.String(), errb.String(), code
}
