package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Constant field values of kmsd audit events.
const (
	// EventVersion is the record schema version written by this package.
	// The major version changes for incompatible changes, the minor version
	// for added fields, which readers of an older minor version ignore.
	EventVersion = "1.11"

	EventSource             = "kms.amazonaws.com"
	EventCategoryManagement = "Management"
	ResourceTypeKey         = "AWS::KMS::Key"

	// EventTypeAPICall marks a record of a request; EventTypeServiceEvent a
	// record of an action the service took by itself (rotation, deletion).
	EventTypeAPICall      = "AwsApiCall"
	EventTypeServiceEvent = "AwsServiceEvent"

	// MaxEventSize bounds the encoded size of one record.
	MaxEventSize = 64 << 10

	// eventTimeLayout is RFC 3339 in UTC with exactly millisecond precision.
	eventTimeLayout = "2006-01-02T15:04:05.000Z"
)

// Event is one audit record, with the field names of an AWS CloudTrail
// record. See the package documentation for what goes in each field, and
// what must never go in any of them.
type Event struct {
	EventVersion        string         `json:"eventVersion"`
	UserIdentity        UserIdentity   `json:"userIdentity"`
	EventTime           Time           `json:"eventTime"`
	EventSource         string         `json:"eventSource"`
	EventName           string         `json:"eventName"`
	AWSRegion           string         `json:"awsRegion"`
	SourceIPAddress     string         `json:"sourceIPAddress"`
	UserAgent           string         `json:"userAgent"`
	RequestParameters   map[string]any `json:"requestParameters"`
	ResponseElements    map[string]any `json:"responseElements,omitempty"`
	ErrorCode           string         `json:"errorCode,omitempty"`
	ErrorMessage        string         `json:"errorMessage,omitempty"`
	RequestID           string         `json:"requestID"`
	EventID             string         `json:"eventID"`
	ReadOnly            bool           `json:"readOnly"`
	Resources           []Resource     `json:"resources"`
	EventType           string         `json:"eventType"`
	ManagementEvent     bool           `json:"managementEvent"`
	EventCategory       string         `json:"eventCategory"`
	ServiceEventDetails map[string]any `json:"serviceEventDetails,omitempty"`
}

// UserIdentity names the caller, as CloudTrail's userIdentity element.
type UserIdentity struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	AccessKeyID string `json:"accessKeyId"`
	// UserName is an IAM user's name (type IAMUser).
	UserName string `json:"userName,omitempty"`
	// SessionContext describes a role session (type AssumedRole).
	SessionContext *SessionContext `json:"sessionContext,omitempty"`
}

// SessionContext describes temporary credentials: the role a session was
// issued for (none for an IAM user's own session), when, and whether an
// MFA code was checked.
type SessionContext struct {
	SessionIssuer SessionIssuer      `json:"sessionIssuer,omitzero"`
	Attributes    *SessionAttributes `json:"attributes,omitempty"`
}

// SessionAttributes are CloudTrail's sessionContext.attributes.
type SessionAttributes struct {
	CreationDate     Time   `json:"creationDate"`
	MFAAuthenticated string `json:"mfaAuthenticated"` // "true" or "false"
}

// SessionIssuer is the role behind a session.
type SessionIssuer struct {
	Type        string `json:"type"`
	PrincipalID string `json:"principalId"`
	ARN         string `json:"arn"`
	AccountID   string `json:"accountId"`
	UserName    string `json:"userName"`
}

// Resource names a KMS key the request touched.
type Resource struct {
	AccountID string `json:"accountId"`
	Type      string `json:"type"`
	ARN       string `json:"ARN"`
}

// Time is an instant encoded in JSON as RFC 3339 in UTC with exactly
// millisecond precision ("2026-01-02T15:04:05.123Z"); finer digits are
// truncated on encoding.
type Time struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	return strconv.AppendQuote(nil, t.UTC().Format(eventTimeLayout)), nil
}

// UnmarshalJSON implements json.Unmarshaler; it accepts only the layout
// MarshalJSON writes.
func (t *Time) UnmarshalJSON(b []byte) error {
	s, err := strconv.Unquote(string(b))
	if err != nil || len(s) != len(eventTimeLayout) {
		return fmt.Errorf("%w: eventTime %s", ErrMalformedEvent, b)
	}
	v, err := time.Parse(eventTimeLayout, s)
	if err != nil {
		return fmt.Errorf("%w: eventTime: %v", ErrMalformedEvent, err)
	}
	t.Time = v
	return nil
}

// Canonical returns the encoding of e that is hashed into the audit tree:
// encoding/json of the struct (fixed field order, map keys sorted), without
// HTML escaping and without a trailing newline. It fails if a map holds a
// value JSON cannot encode or if the record exceeds MaxEventSize.
func (e *Event) Canonical() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("audit: encode event: %w", err)
	}
	b := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedEvent, len(b), MaxEventSize)
	}
	return b, nil
}

// ParseEvent decodes one record. It refuses records over MaxEventSize,
// trailing data, a major version other than 1, and, for records of minor
// version up to ours, unknown fields; records of a newer minor version may
// carry fields this version does not know, which are dropped. Numbers in the
// maps decode as json.Number, so Canonical reproduces them digit for digit.
func ParseEvent(b []byte) (*Event, error) {
	if len(b) > MaxEventSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMalformedEvent, len(b), MaxEventSize)
	}
	var probe struct {
		EventVersion string `json:"eventVersion"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	newer, err := newerMinor(probe.EventVersion)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if !newer {
		dec.DisallowUnknownFields()
	}
	var e Event
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedEvent, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing data", ErrMalformedEvent)
	}
	return &e, nil
}

// newerMinor reports whether version v is 1.x with x above our minor version.
func newerMinor(v string) (bool, error) {
	major, minor, ok := strings.Cut(v, ".")
	m, err := strconv.ParseUint(minor, 10, 16)
	if !ok || major != "1" || err != nil {
		return false, fmt.Errorf("%w: unsupported eventVersion %q", ErrMalformedEvent, v)
	}
	_, ours, _ := strings.Cut(EventVersion, ".")
	o, _ := strconv.ParseUint(ours, 10, 16)
	return m > o, nil
}
