package awsapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/kmsd/kmsd/server"
)

// MaxBodyBytes bounds a request body. The largest valid request (a
// ReEncrypt of a 6 KiB ciphertext with two maximal encryption contexts,
// in base64) is far below; the server then holds the decoded message to
// server.MaxRequestBytes.
const MaxBodyBytes = 256 << 10

// Service is the SigV4 service name of the endpoint.
const Service = "kms"

// Backend runs operations: *server.Server.
type Backend interface {
	LookupCredential(accessKeyID, token string) *server.Credential
	ClaimedCredential(accessKeyID string) *server.Credential
	Invoke(ctx context.Context, c server.Call) (proto.Message, server.CallIDs, error)
}

// Config configures a Handler.
type Config struct {
	// Server runs the operations; required.
	Server Backend
	// Region is the region of the credential scope that requests must be
	// signed for: the server's region (server.Config.Region). Default
	// server.DefaultRegion.
	Region string
	// AllowPlainHTTP answers requests that arrive without TLS on a
	// non-loopback address. Off, such requests are refused: they would
	// carry plaintext and data keys in the clear.
	AllowPlainHTTP bool
	// Now defaults to time.Now; Logger to discarding everything.
	Now    func() time.Time
	Logger *slog.Logger
}

// Handler serves the AWS KMS JSON protocol (POST /).
type Handler struct {
	srv        Backend
	v          verifier
	allowPlain bool
	log        *slog.Logger
}

// New returns a Handler for cfg.
func New(cfg Config) (*Handler, error) {
	if cfg.Server == nil {
		return nil, errors.New("awsapi: Config.Server is required")
	}
	h := &Handler{srv: cfg.Server, allowPlain: cfg.AllowPlainHTTP, log: cfg.Logger}
	h.v = verifier{region: cfg.Region, service: Service, now: cfg.Now,
		lookup: func(id, token string) signingCredential { return cfg.Server.LookupCredential(id, token) }}
	if h.v.region == "" {
		h.v.region = server.DefaultRegion
	}
	if h.v.now == nil {
		h.v.now = time.Now
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	return h, nil
}

// ServeHTTP answers one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != "/":
		newError(http.StatusNotFound, excUnknownOperation, "The AWS KMS API is served at POST /.").write(w)
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		newError(http.StatusMethodNotAllowed, excUnknownOperation, "The AWS KMS API answers POST requests only.").write(w)
		return
	case r.TLS == nil && !h.allowPlain && !localLoopback(r):
		newError(http.StatusForbidden, excAccessDenied, "kmsd answers the AWS KMS API over plain HTTP only on a loopback address: "+
			"use https:// (configure tls_cert_file and tls_key_file), or allow plain HTTP explicitly (aws_allow_plain_http).").write(w)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			newError(http.StatusRequestEntityTooLarge, excTooLarge, "The request body is larger than the limit of 262144 bytes.").write(w)
			return
		}
		newError(http.StatusBadRequest, excSerialization, "The request body could not be read.").write(w)
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get(headerTarget), targetPrefix)
	if !ok || len(r.Header.Values(headerTarget)) != 1 {
		newError(http.StatusBadRequest, excUnknownOperation, "X-Amz-Target must be TrentService.<Operation>.").write(w)
		return
	}
	vr := h.v.verify(r, body)
	if !server.HasOperation(op) {
		switch {
		case vr.err != nil:
			vr.err.write(w)
		case awsOperations[op]:
			newError(http.StatusBadRequest, excUnsupported, "kmsd does not support the AWS KMS operation "+op+".").write(w)
		default:
			newError(http.StatusBadRequest, excUnknownOperation, "").write(w)
		}
		return
	}
	call := server.Call{Op: op, Decode: func(m proto.Message) error { return decodeJSON(body, m) },
		RemoteAddr: remoteAddr(r.RemoteAddr), UserAgent: r.UserAgent()}
	if c, ok := vr.cred.(*server.Credential); ok {
		call.Credential = c
	} else if vr.accessKey != "" {
		call.Credential = h.srv.ClaimedCredential(vr.accessKey)
	}
	if vr.err != nil {
		call.AuthError = server.AuthError(vr.err.name, vr.err.message)
	}
	resp, ids, err := h.srv.Invoke(r.Context(), call)
	if ids.RequestID != "" {
		w.Header().Set(headerRequestID, ids.RequestID)
	}
	if err != nil {
		var se *errSerialization
		if errors.As(err, &se) {
			newError(http.StatusBadRequest, excSerialization, se.msg).write(w)
			return
		}
		fromStatus(err).write(w)
		return
	}
	out := encodeJSON(make([]byte, 0, 512), resp)
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Write(out)
}

// localLoopback reports whether the request arrived on a loopback address.
func localLoopback(r *http.Request) bool {
	a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	ap, err := netip.ParseAddrPort(a.String())
	return err == nil && ap.Addr().IsLoopback()
}

func remoteAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return nil
	}
	return net.TCPAddrFromAddrPort(ap)
}

// awsOperations are AWS KMS's operations; those kmsd lacks answer
// UnsupportedOperationException, any other name UnknownOperationException.
var awsOperations = map[string]bool{}

func init() {
	for _, op := range strings.Fields(`CancelKeyDeletion ConnectCustomKeyStore CreateAlias CreateCustomKeyStore
		CreateGrant CreateKey Decrypt DeleteAlias DeleteCustomKeyStore DeleteImportedKeyMaterial DeriveSharedSecret
		DescribeCustomKeyStores DescribeKey DisableKey DisableKeyRotation DisconnectCustomKeyStore EnableKey
		EnableKeyRotation Encrypt GenerateDataKey GenerateDataKeyPair GenerateDataKeyPairWithoutPlaintext
		GenerateDataKeyWithoutPlaintext GenerateMac GenerateRandom GetKeyPolicy GetKeyRotationStatus
		GetParametersForImport GetPublicKey ImportKeyMaterial ListAliases ListGrants ListKeyPolicies
		ListKeyRotations ListKeys ListResourceTags ListRetirableGrants PutKeyPolicy ReEncrypt ReplicateKey
		RetireGrant RevokeGrant RotateKeyOnDemand ScheduleKeyDeletion Sign TagResource UntagResource UpdateAlias
		UpdateCustomKeyStore UpdateKeyDescription UpdatePrimaryRegion Verify VerifyMac`) {
		awsOperations[op] = true
	}
}
