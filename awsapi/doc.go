// Package awsapi serves kmsd's keys over the AWS KMS wire protocol, so that
// applications, SDKs and tools written for AWS KMS use kmsd by changing
// only their endpoint URL.
//
// # Using it
//
// kmsd serves the protocol on its HTTP address (--http-addr, default
// 127.0.0.1:7480), next to /healthz, /readyz and /metrics. Point any AWS
// SDK or the AWS CLI at it, with an access key of kmsd's — the account
// root's ("kmsd root-credentials", or dev-credentials with --dev), an IAM
// user's ("kmsctl iam create-access-key"), or temporary credentials with
// their session token ("kmsctl sts assume-role") — and kmsd's region
// (--region, default us-east-1):
//
//	export AWS_ACCESS_KEY_ID=AKIA... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1
//	aws kms create-key --endpoint-url http://127.0.0.1:7480
//
//	client := kms.New(kms.Options{Region: "us-east-1",
//	    BaseEndpoint: aws.String("https://kmsd.example:7480"),
//	    Credentials:  credentials.NewStaticCredentialsProvider(id, secret, "")})
//
// Every operation kmsd implements is served, with AWS's request and
// response members: keys (CreateKey, DescribeKey, ListKeys, EnableKey,
// DisableKey, UpdateKeyDescription, ScheduleKeyDeletion,
// CancelKeyDeletion), aliases, tags, rotation (EnableKeyRotation,
// RotateKeyOnDemand, ListKeyRotations, ...), imported key material, key
// policies, grants, and the cryptographic operations (Encrypt, Decrypt,
// ReEncrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext,
// GenerateRandom). An AWS KMS operation kmsd lacks (Sign, Verify,
// GenerateMac, custom key stores, ...) answers
// UnsupportedOperationException; a name that is no AWS KMS operation
// UnknownOperationException. The SDKs' paginators follow NextMarker and
// Truncated as with AWS.
//
// # One implementation, two front doors
//
// A request is translated and handed to the server (server.Invoke), which
// runs it exactly as a gRPC call: the read barrier, authorization of the
// signed caller by the key's policy, its grants and the caller's identity
// policies, the handler, the one table of errors, and an audit record that
// is committed before the answer leaves. Records of AWS requests carry the
// client's user agent, its address and the access key id like those of
// gRPC calls. A ciphertext made through one door decrypts through the
// other.
//
// # Wire format
//
// POST / with X-Amz-Target: TrentService.<Operation> and Content-Type
// application/x-amz-json-1.1; bodies are JSON objects whose member names
// are AWS's (the proto fields' json_name). Blobs are base64, timestamps
// seconds since the epoch, and unknown members are ignored. A body is at
// most MaxBodyBytes. Errors are {"__type": "NotFoundException",
// "message": "..."} with AWS's HTTP status: 400 for client errors
// (including AccessDeniedException and ThrottlingException), 500 for
// KMSInternalException, 503 for DependencyTimeoutException. The
// x-amzn-RequestId header is the request id of the audit record.
//
// # Authentication
//
// Requests are signed with AWS Signature Version 4 (header form) for
// service "kms" and kmsd's region. The verifier checks that the
// Authorization header names Credential, SignedHeaders and Signature; that
// host, x-amz-date, x-amz-target (and x-amz-security-token, when present)
// are signed, so no part that chooses the operation can be changed; that
// the credential scope's date matches X-Amz-Date, its region is kmsd's and
// its service is kms; that X-Amz-Date is within 5 minutes of the clock; and
// compares the signature in constant time. The secret never leaves the
// server, which derives the scope's signing key; an unknown access key
// costs the same work as a known one. Refusals, with AWS's names:
//
//	MissingAuthenticationTokenException  no Authorization header
//	IncompleteSignature                  a malformed header, or a required header not signed
//	InvalidSignatureException            wrong signature, scope, or a time more than 5 minutes off
//	UnrecognizedClientException          an unknown or inactive access key, or a session token that does not open
//	ExpiredTokenException                temporary credentials past their expiry
//
// Refusals of operations kmsd serves are recorded in the audit log with the
// access key they claimed.
//
// # Transport
//
// With certificates configured (--tls-cert-file, --tls-key-file), the HTTP
// port also speaks TLS: a connection that opens with a TLS handshake is
// served over TLS (SniffTLS), so AWS clients use https:// while health
// checks keep plain HTTP. Plain-HTTP AWS requests are answered only on a
// loopback address: anywhere else they would carry plaintext and data keys
// in the clear, so they are refused (403) unless --aws-allow-plain-http.
package awsapi
