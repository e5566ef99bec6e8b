package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

const (
	tagLen = 16
	// Canned identifiers of realistic length.
	echoKeyARN     = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	echoMaterialID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	echoAlgorithm  = "SYMMETRIC_DEFAULT"
)

// echoServer implements the crypto RPCs of kms.v1 with canned answers of the
// same sizes as kmsd's and no cryptography: a "ciphertext" is a fixed
// header, the plaintext and a fixed tag. It measures what gRPC and protobuf
// alone cost on this machine.
type echoServer struct {
	kmsv1.UnimplementedKeyManagementServiceServer

	header, tag []byte
	dataKey     []byte // AES_256 data key
	dataKeyBlob []byte // its "ciphertext"
}

var _ kmsv1.KeyManagementServiceServer = (*echoServer)(nil)

// newEchoServer returns an echo server whose ciphertexts are overhead bytes
// longer than their plaintexts (defaultCiphertextOverhead if 0).
func newEchoServer(overhead int) *echoServer {
	if overhead == 0 {
		overhead = defaultCiphertextOverhead
	}
	s := &echoServer{
		header:  pattern(overhead-tagLen, 0x01),
		tag:     pattern(tagLen, 0x7f),
		dataKey: pattern(dataKeyBytes, 0x33),
	}
	s.dataKeyBlob = s.seal(s.dataKey)
	return s
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

func (s *echoServer) seal(pt []byte) []byte {
	b := make([]byte, 0, len(s.header)+len(pt)+len(s.tag))
	return append(append(append(b, s.header...), pt...), s.tag...)
}

func (s *echoServer) GenerateDataKey(_ context.Context, req *kmsv1.GenerateDataKeyRequest) (*kmsv1.GenerateDataKeyResponse, error) {
	pt, blob := s.dataKey, s.dataKeyBlob
	if n := dataKeyLen(req); n != dataKeyBytes {
		if n <= 0 || n > 1024 {
			return nil, echoError(codes.InvalidArgument, "ValidationException")
		}
		pt = pattern(n, 0x33)
		blob = s.seal(pt)
	}
	return &kmsv1.GenerateDataKeyResponse{
		CiphertextBlob: blob, Plaintext: pt, KeyId: echoKeyARN, KeyMaterialId: echoMaterialID,
	}, nil
}

func dataKeyLen(req *kmsv1.GenerateDataKeyRequest) int {
	switch req.GetKeySpec() {
	case "AES_256":
		return 32
	case "AES_128":
		return 16
	}
	return int(req.GetNumberOfBytes())
}

func (s *echoServer) Encrypt(_ context.Context, req *kmsv1.EncryptRequest) (*kmsv1.EncryptResponse, error) {
	return &kmsv1.EncryptResponse{
		CiphertextBlob: s.seal(req.GetPlaintext()), KeyId: echoKeyARN, EncryptionAlgorithm: echoAlgorithm,
	}, nil
}

func (s *echoServer) Decrypt(_ context.Context, req *kmsv1.DecryptRequest) (*kmsv1.DecryptResponse, error) {
	b := req.GetCiphertextBlob()
	if len(b) < len(s.header)+len(s.tag) {
		return nil, echoError(codes.InvalidArgument, "InvalidCiphertextException")
	}
	return &kmsv1.DecryptResponse{
		KeyId: echoKeyARN, Plaintext: b[len(s.header) : len(b)-len(s.tag)],
		EncryptionAlgorithm: echoAlgorithm, KeyMaterialId: echoMaterialID,
	}, nil
}

func echoError(c codes.Code, reason string) error {
	st, err := status.New(c, reason).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: "kms.v1"})
	if err != nil {
		panic(err)
	}
	return st.Err()
}

// CreateKey and DescribeKey let kmsbench drive an echo server in another
// process (--serve-echo) exactly as it drives kmsd.
func (s *echoServer) CreateKey(context.Context, *kmsv1.CreateKeyRequest) (*kmsv1.CreateKeyResponse, error) {
	return &kmsv1.CreateKeyResponse{KeyMetadata: echoKeyMetadata()}, nil
}

func (s *echoServer) DescribeKey(context.Context, *kmsv1.DescribeKeyRequest) (*kmsv1.DescribeKeyResponse, error) {
	return &kmsv1.DescribeKeyResponse{KeyMetadata: echoKeyMetadata()}, nil
}

func echoKeyMetadata() *kmsv1.KeyMetadata {
	return &kmsv1.KeyMetadata{KeyId: echoKeyARN[strings.LastIndexByte(echoKeyARN, '/')+1:], Arn: echoKeyARN,
		Enabled: true, KeyState: "Enabled", KeyUsage: "ENCRYPT_DECRYPT", KeySpec: echoAlgorithm}
}

// serveEcho serves an echo server on addr until ctx ends.
func serveEcho(ctx context.Context, addr string, overhead int, log io.Writer) error {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := grpc.NewServer()
	kmsv1.RegisterKeyManagementServiceServer(srv, newEchoServer(overhead))
	fmt.Fprintf(log, "kmsbench: echo server on %s, pid %d\n", lis.Addr(), os.Getpid())
	go func() { <-ctx.Done(); srv.Stop() }()
	return srv.Serve(lis)
}

// startEcho serves an echo server on a free loopback port and returns its
// address and a function that stops it.
func startEcho(overhead int) (addr string, stop func(), err error) {
	return serve(newEchoServer(overhead))
}

// serve serves impl with default gRPC server options on a free loopback
// port.
func serve(impl kmsv1.KeyManagementServiceServer) (addr string, stop func(), err error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := grpc.NewServer()
	kmsv1.RegisterKeyManagementServiceServer(srv, impl)
	go srv.Serve(lis)
	return lis.Addr().String(), srv.Stop, nil
}
