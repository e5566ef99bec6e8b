package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmsd/kmsd/auth"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The AWS protocol mode (--protocol aws): the callers go through the AWS
// SDK for Go v2 (service/kms) to an AWS-KMS-compatible HTTP endpoint —
// kmsd's --http-addr, or another implementation given as the baseline —
// instead of kmsd's gRPC API. awsClient adapts an SDK client to the
// interface the runner drives, so runs, checks and reports are the same.

// awsClient is the KeyManagementServiceClient of the operations kmsbench
// calls, through the AWS SDK. Any other method panics (nil embedded
// interface).
type awsClient struct {
	kmsv1.KeyManagementServiceClient
	c *kms.Client
}

// dialAWS returns n SDK clients of endpoint (a URL), each with its own
// HTTP connection pool, signing with the environment's access key
// (KMS_ACCESS_KEY_ID, KMS_SECRET_ACCESS_KEY) for region.
func dialAWS(endpoint, region string, n int) ([]kmsv1.KeyManagementServiceClient, func(), error) {
	creds, err := auth.FromEnvironment()
	if errors.Is(err, auth.ErrNoCredentials) {
		// An endpoint that checks no signature (local-kms) takes anything.
		creds, err = auth.Credentials{AccessKeyID: "AKIAKMSBENCH00000000", SecretAccessKey: "unchecked"}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var clients []kmsv1.KeyManagementServiceClient
	var transports []*http.Transport
	for range n {
		tr := &http.Transport{DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, IdleConnTimeout: time.Minute}
		transports = append(transports, tr)
		clients = append(clients, &awsClient{c: kms.New(kms.Options{
			Region: region, BaseEndpoint: aws.String(endpoint), RetryMaxAttempts: 1,
			HTTPClient:  &http.Client{Transport: tr},
			Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken),
		})})
	}
	return clients, func() {
		for _, tr := range transports {
			tr.CloseIdleConnections()
		}
	}, nil
}

func (a *awsClient) CreateKey(ctx context.Context, in *kmsv1.CreateKeyRequest, _ ...grpc.CallOption) (*kmsv1.CreateKeyResponse, error) {
	out, err := a.c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String(in.GetDescription())})
	if err != nil {
		return nil, awsStatus(err)
	}
	return &kmsv1.CreateKeyResponse{KeyMetadata: &kmsv1.KeyMetadata{KeyId: aws.ToString(out.KeyMetadata.KeyId),
		Arn: aws.ToString(out.KeyMetadata.Arn), KeyState: string(out.KeyMetadata.KeyState)}}, nil
}

func (a *awsClient) DescribeKey(ctx context.Context, in *kmsv1.DescribeKeyRequest, _ ...grpc.CallOption) (*kmsv1.DescribeKeyResponse, error) {
	out, err := a.c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(in.GetKeyId())})
	if err != nil {
		return nil, awsStatus(err)
	}
	return &kmsv1.DescribeKeyResponse{KeyMetadata: &kmsv1.KeyMetadata{KeyId: aws.ToString(out.KeyMetadata.KeyId),
		Arn: aws.ToString(out.KeyMetadata.Arn), KeyState: string(out.KeyMetadata.KeyState)}}, nil
}

func (a *awsClient) GenerateDataKey(ctx context.Context, in *kmsv1.GenerateDataKeyRequest, _ ...grpc.CallOption) (*kmsv1.GenerateDataKeyResponse, error) {
	out, err := a.c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(in.GetKeyId()),
		KeySpec: types.DataKeySpec(in.GetKeySpec()), EncryptionContext: in.GetEncryptionContext()})
	if err != nil {
		return nil, awsStatus(err)
	}
	return &kmsv1.GenerateDataKeyResponse{CiphertextBlob: out.CiphertextBlob, Plaintext: out.Plaintext, KeyId: aws.ToString(out.KeyId)}, nil
}

func (a *awsClient) Encrypt(ctx context.Context, in *kmsv1.EncryptRequest, _ ...grpc.CallOption) (*kmsv1.EncryptResponse, error) {
	out, err := a.c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(in.GetKeyId()), Plaintext: in.GetPlaintext(),
		EncryptionContext: in.GetEncryptionContext()})
	if err != nil {
		return nil, awsStatus(err)
	}
	return &kmsv1.EncryptResponse{CiphertextBlob: out.CiphertextBlob, KeyId: aws.ToString(out.KeyId)}, nil
}

func (a *awsClient) Decrypt(ctx context.Context, in *kmsv1.DecryptRequest, _ ...grpc.CallOption) (*kmsv1.DecryptResponse, error) {
	out, err := a.c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: in.GetCiphertextBlob(), EncryptionContext: in.GetEncryptionContext()})
	if err != nil {
		return nil, awsStatus(err)
	}
	return &kmsv1.DecryptResponse{Plaintext: out.Plaintext, KeyId: aws.ToString(out.KeyId)}, nil
}

// awsStatus turns an SDK error into a status whose ErrorInfo reason is the
// AWS exception name, as the runner counts errors.
func awsStatus(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	name := "Transport"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		name = ae.ErrorCode()
	}
	st := status.New(codes.Unknown, fmt.Sprint(err))
	if ds, derr := st.WithDetails(&errdetails.ErrorInfo{Reason: name}); derr == nil {
		st = ds
	}
	return st.Err()
}
