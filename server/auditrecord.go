package server

import (
	"context"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/audit"
)

// Response headers that carry a request's audit identifiers.
const (
	HeaderEventID   = "kmsd-event-id"
	HeaderRequestID = "kmsd-request-id"
)

// auditedServices are the gRPC services whose calls are recorded. Health
// checks and reflection are not.
var auditedServices = []string{"/kms.v1.KeyManagementService/", "/kms.v1.AuditService/", "/kms.v1.ClusterService/",
	"/kms.v1.IdentityManagementService/"}

// unaudited are the calls of those services that are not recorded: the
// cluster status, which monitoring polls like /readyz and which reveals no
// key or record.
var unaudited = map[string]bool{"/kms.v1.ClusterService/GetClusterStatus": true}

// mutating lists the operations that change state: their records are
// readOnly false and carry responseElements.
var mutating = map[string]bool{
	"CreateKey": true, "UpdateKeyDescription": true, "EnableKey": true, "DisableKey": true,
	"ScheduleKeyDeletion": true, "CancelKeyDeletion": true,
	"CreateAlias": true, "UpdateAlias": true, "DeleteAlias": true,
	"TagResource": true, "UntagResource": true,
	"EnableKeyRotation": true, "DisableKeyRotation": true, "RotateKeyOnDemand": true,
	"ImportKeyMaterial": true, "DeleteImportedKeyMaterial": true,
	"SignTreeHead": true, "RemoveMember": true, "AddMember": true, "Restore": true,
	"PutKeyPolicy": true, "CreateGrant": true, "RetireGrant": true, "RevokeGrant": true,
	// IdentityManagementService.
	"CreateUser": true, "DeleteUser": true, "CreateAccessKey": true, "UpdateAccessKey": true, "DeleteAccessKey": true,
	"CreateGroup": true, "DeleteGroup": true, "AddUserToGroup": true, "RemoveUserFromGroup": true,
	"CreateRole": true, "DeleteRole": true, "UpdateAssumeRolePolicy": true,
	"PutUserPolicy": true, "DeleteUserPolicy": true, "PutGroupPolicy": true, "DeleteGroupPolicy": true,
	"PutRolePolicy": true, "DeleteRolePolicy": true,
	"AttachUserPolicy": true, "DetachUserPolicy": true, "AttachGroupPolicy": true, "DetachGroupPolicy": true,
	"AttachRolePolicy": true, "DetachRolePolicy": true,
	"CreateVirtualMFADevice": true, "EnableMFADevice": true, "DeactivateMFADevice": true, "DeleteVirtualMFADevice": true,
	// SecurityTokenService: an MFA code's use is committed.
	"AssumeRole": true, "GetSessionToken": true,
}

// secretFields are never recorded, whatever their type, at any depth
// (CreateAccessKey's AccessKey.SecretAccessKey). Every bytes field is left
// out too: in this API they are plaintext, ciphertext, wrapped key
// material, tokens or public keys.
var secretFields = map[string]bool{"GrantToken": true, "GrantTokens": true, "ImportToken": true, "Plaintext": true, "SecretAccessKey": true, "SessionToken": true,
	"Base32StringSeed": true, "AuthenticationCode1": true, "AuthenticationCode2": true, "TokenCode": true}

// keyFields name the request and response fields that identify a key.
var keyFields = []string{"KeyId", "SourceKeyId", "DestinationKeyId", "TargetKeyId"}

// callInfo is what a request's record knows before the handler runs.
type callInfo struct {
	eventID, requestID string
	start              time.Time
	sourceIP           string
	userAgent          string
	// identity is who made the call, or claimed to, once authentication
	// has looked at it; nil before.
	identity *audit.UserIdentity
}

func (s *Server) newCallInfo(ctx context.Context) (callInfo, error) {
	eid, err := newUUID(s.rand)
	if err != nil {
		return callInfo{}, err
	}
	rid, err := newUUID(s.rand)
	if err != nil {
		return callInfo{}, err
	}
	ci := callInfo{eventID: eid, requestID: rid, start: s.now().UTC()}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		ci.sourceIP = p.Addr.String()
		if host, _, err := net.SplitHostPort(ci.sourceIP); err == nil {
			ci.sourceIP = host
		}
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		ci.userAgent = truncate(strings.Join(md.Get("user-agent"), " "), 1024)
	}
	return ci, nil
}

// apiEvent builds the record of one API call from its request, its response
// (nil on failure) and its error, already converted to a status.
func (s *Server) apiEvent(ci callInfo, name string, req, resp any, err error) *audit.Event {
	e := &audit.Event{
		EventVersion:    audit.EventVersion,
		UserIdentity:    s.identityOf(ci),
		EventTime:       audit.Time{Time: ci.start},
		EventSource:     audit.EventSource,
		EventName:       name,
		AWSRegion:       s.region,
		SourceIPAddress: ci.sourceIP,
		UserAgent:       ci.userAgent,
		RequestID:       ci.requestID,
		EventID:         ci.eventID,
		ReadOnly:        !mutating[name],
		EventType:       audit.EventTypeAPICall,
		ManagementEvent: true,
		EventCategory:   audit.EventCategoryManagement,
		Resources:       []audit.Resource{},
	}
	reqMsg, _ := req.(proto.Message)
	respMsg, _ := resp.(proto.Message)
	e.RequestParameters = fieldsOf(reqMsg)
	if err != nil {
		e.ErrorCode = ExceptionName(err)
		if e.ErrorCode == "" {
			e.ErrorCode = excInternal
		}
		e.ErrorMessage = truncate(statusMessage(err), 1024)
	} else if mutating[name] {
		e.ResponseElements = fieldsOf(respMsg)
	}
	e.Resources = s.resourcesOf(reqMsg, respMsg)
	return e
}

// serviceEvent builds the record of an action the service took by itself.
func (s *Server) serviceEvent(name, keyID string, details map[string]any) (*audit.Event, error) {
	eid, err := newUUID(s.rand)
	if err != nil {
		return nil, err
	}
	arn := s.keyARN(keyID)
	details["keyId"] = arn
	return &audit.Event{
		EventVersion:        audit.EventVersion,
		UserIdentity:        audit.UserIdentity{Type: "AWSService", PrincipalID: audit.EventSource, AccountID: s.accountID},
		EventTime:           audit.Time{Time: s.now().UTC()},
		EventSource:         audit.EventSource,
		EventName:           name,
		AWSRegion:           s.region,
		SourceIPAddress:     audit.EventSource,
		UserAgent:           audit.EventSource,
		RequestParameters:   nil,
		RequestID:           eid,
		EventID:             eid,
		ReadOnly:            false,
		Resources:           []audit.Resource{{AccountID: s.accountID, Type: audit.ResourceTypeKey, ARN: arn}},
		EventType:           audit.EventTypeServiceEvent,
		ManagementEvent:     true,
		EventCategory:       audit.EventCategoryManagement,
		ServiceEventDetails: details,
	}, nil
}

// callerIdentity names the caller. Requests are not authenticated yet, so
// every caller is the account itself.
// identityOf is the userIdentity of a call's record.
func (s *Server) identityOf(ci callInfo) audit.UserIdentity {
	switch {
	case ci.identity != nil:
		return *ci.identity
	case s.auth != nil:
		return audit.UserIdentity{Type: "Unknown"} // refused before authentication
	}
	return s.callerIdentity()
}

func (s *Server) callerIdentity() audit.UserIdentity {
	return audit.UserIdentity{Type: "Root", PrincipalID: s.accountID, ARN: "arn:aws:iam::" + s.accountID + ":root", AccountID: s.accountID}
}

// resourcesOf lists the keys a call touched: those named in its response,
// or failing that those its request names that resolve.
func (s *Server) resourcesOf(req, resp proto.Message) []audit.Resource {
	seen := map[string]bool{}
	var out []audit.Resource
	add := func(arn string) {
		if arn != "" && !seen[arn] {
			seen[arn] = true
			out = append(out, audit.Resource{AccountID: s.accountID, Type: audit.ResourceTypeKey, ARN: arn})
		}
	}
	if resp != nil {
		for _, v := range stringFields(resp, keyFields) {
			if k, err := s.resolveKey(v, allowAlias); err == nil {
				add(s.keyARN(k.ID))
			}
		}
	}
	if len(out) == 0 && req != nil {
		for _, v := range stringFields(req, keyFields) {
			if k, err := s.resolveKey(v, allowAlias); err == nil {
				add(s.keyARN(k.ID))
			}
		}
	}
	if out == nil {
		out = []audit.Resource{}
	}
	return out
}

// stringFields returns the values of m's top-level string fields whose
// JSON names are in names, and of KeyMetadata.KeyId if m has one.
func stringFields(m proto.Message, names []string) []string {
	var out []string
	r := m.ProtoReflect()
	fields := r.Descriptor().Fields()
	for _, n := range names {
		if fd := fields.ByJSONName(n); fd != nil && fd.Kind() == protoreflect.StringKind && r.Has(fd) {
			out = append(out, r.Get(fd).String())
		}
	}
	if fd := fields.ByJSONName("KeyMetadata"); fd != nil && fd.Kind() == protoreflect.MessageKind && r.Has(fd) {
		md := r.Get(fd).Message()
		if kf := md.Descriptor().Fields().ByJSONName("KeyId"); kf != nil {
			out = append(out, md.Get(kf).String())
		}
	}
	return out
}

// fieldsOf converts m's set fields into a record's parameter map, keyed by
// AWS member names in CloudTrail's lowerCamelCase. Bytes fields and secret
// fields are left out; timestamps become RFC 3339 strings.
func fieldsOf(m proto.Message) map[string]any {
	if m == nil {
		return nil
	}
	out := messageFields(m.ProtoReflect())
	if len(out) == 0 {
		return nil
	}
	return out
}

func messageFields(r protoreflect.Message) map[string]any {
	out := map[string]any{}
	r.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() == protoreflect.BytesKind || secretFields[fd.JSONName()] {
			return true
		}
		name := lowerCamel(fd.JSONName())
		switch {
		case fd.IsMap():
			mm := map[string]any{}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				mm[k.String()] = scalar(fd.MapValue(), mv)
				return true
			})
			out[name] = mm
		case fd.IsList():
			l := v.List()
			items := make([]any, 0, l.Len())
			for i := range l.Len() {
				items = append(items, scalar(fd, l.Get(i)))
			}
			out[name] = items
		default:
			out[name] = scalar(fd, v)
		}
		return true
	})
	return out
}

func scalar(fd protoreflect.FieldDescriptor, v protoreflect.Value) any {
	switch fd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		if ts, ok := v.Message().Interface().(*timestamppb.Timestamp); ok {
			return ts.AsTime().UTC().Format(time.RFC3339Nano)
		}
		return messageFields(v.Message())
	case protoreflect.EnumKind:
		return string(fd.Enum().Values().ByNumber(v.Enum()).Name())
	case protoreflect.BytesKind:
		return nil
	}
	return v.Interface()
}

func lowerCamel(s string) string {
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

func statusMessage(err error) string {
	return status.Convert(err).Message()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// newUUID returns a random (version 4) UUID.
func newUUID(rand interface{ Read([]byte) (int, error) }) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hex = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hex[c>>4], hex[c&0xf])
	}
	return string(out), nil
}
