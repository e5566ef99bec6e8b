// Package encrypttest is an in-memory stand-in for kmsd's
// GenerateDataKey and Decrypt, for unit tests of code that uses the
// encrypt package without a running kmsd:
//
//	kms := encrypttest.NewKMS()
//	keyARN := kms.CreateKey()
//	client, err := encrypt.New(kms)
//
// Data keys are wrapped with the envelope package exactly as kmsd wraps
// them (bound to the encryption context), under key material that lives
// only in this process. It checks no credentials and records nothing:
// never use it outside tests.
package encrypttest

import (
	"context"
	"crypto/rand"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/envelope"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

const arnPrefix = "arn:aws:kms:us-east-1:111122223333:key/"

// KMS answers GenerateDataKey and Decrypt from keys held in memory.
type KMS struct {
	// Latency, when set, is how long every call takes, to model the
	// network and kmsd.
	Latency time.Duration

	mu    sync.Mutex
	keys  map[envelope.KeyID]envelope.Key
	calls map[string]int
}

// NewKMS returns a KMS without keys.
func NewKMS() *KMS {
	return &KMS{keys: map[envelope.KeyID]envelope.Key{}, calls: map[string]int{}}
}

// CreateKey makes a key and returns its ARN.
func (k *KMS) CreateKey() string {
	id, err := envelope.NewKeyID(rand.Reader)
	if err != nil {
		panic(err)
	}
	m, err := envelope.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.keys[id] = m
	return arnPrefix + id.String()
}

// Calls returns how many times op ("GenerateDataKey", "Decrypt") was
// called.
func (k *KMS) Calls(op string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls[op]
}

func (k *KMS) start(op string) {
	k.mu.Lock()
	k.calls[op]++
	k.mu.Unlock()
	if k.Latency > 0 {
		time.Sleep(k.Latency)
	}
}

func (k *KMS) key(name string) (envelope.KeyID, envelope.Key, error) {
	id, err := envelope.ParseKeyID(strings.TrimPrefix(name, arnPrefix))
	k.mu.Lock()
	m, ok := k.keys[id]
	k.mu.Unlock()
	if err != nil || !ok {
		return id, m, status.Errorf(codes.NotFound, "NotFoundException: key %q does not exist", name)
	}
	return id, m, nil
}

// GenerateDataKey returns a new 32-byte data key, in plaintext and
// wrapped under the key named by the request.
func (k *KMS) GenerateDataKey(_ context.Context, in *kmsv1.GenerateDataKeyRequest, _ ...grpc.CallOption) (*kmsv1.GenerateDataKeyResponse, error) {
	k.start("GenerateDataKey")
	if in.GetKeySpec() != "AES_256" {
		return nil, status.Error(codes.InvalidArgument, "ValidationException: this fake makes AES_256 keys only")
	}
	id, m, err := k.key(in.GetKeyId())
	if err != nil {
		return nil, err
	}
	pt := make([]byte, 32)
	if _, err := rand.Read(pt); err != nil {
		return nil, err
	}
	blob, err := envelope.Seal(rand.Reader, m, id, pt, in.GetEncryptionContext())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, "ValidationException: "+err.Error())
	}
	return &kmsv1.GenerateDataKeyResponse{CiphertextBlob: blob, Plaintext: pt, KeyId: arnPrefix + id.String()}, nil
}

// Decrypt unwraps a data key made by GenerateDataKey with the same
// encryption context.
func (k *KMS) Decrypt(_ context.Context, in *kmsv1.DecryptRequest, _ ...grpc.CallOption) (*kmsv1.DecryptResponse, error) {
	k.start("Decrypt")
	invalid := status.Error(codes.InvalidArgument, "InvalidCiphertextException")
	h, err := envelope.ParseHeader(in.GetCiphertextBlob())
	if err != nil {
		return nil, invalid
	}
	id, m, err := k.key(arnPrefix + h.KeyID.String())
	if err != nil {
		return nil, invalid
	}
	if in.GetKeyId() != "" && in.GetKeyId() != arnPrefix+id.String() && in.GetKeyId() != id.String() {
		return nil, status.Error(codes.InvalidArgument, "IncorrectKeyException")
	}
	pt, err := envelope.Open(m, in.GetCiphertextBlob(), in.GetEncryptionContext())
	if err != nil {
		return nil, invalid
	}
	return &kmsv1.DecryptResponse{KeyId: arnPrefix + id.String(), Plaintext: pt}, nil
}
