package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testEvent returns a realistic Encrypt record numbered i.
func testEvent(i int) *Event {
	return &Event{
		EventVersion: EventVersion,
		UserIdentity: UserIdentity{
			Type: "IAMUser", PrincipalID: "AIDAEXAMPLE", ARN: "arn:aws:iam::111122223333:user/alice",
			AccountID: "111122223333", AccessKeyID: "AKIAEXAMPLE",
		},
		EventTime:       Time{time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * 1500 * time.Microsecond)},
		EventSource:     EventSource,
		EventName:       "Encrypt",
		AWSRegion:       "eu-west-1",
		SourceIPAddress: "192.0.2.10",
		UserAgent:       "kmsctl/1.0",
		RequestParameters: map[string]any{
			"keyId":               "1234abcd-12ab-34cd-56ef-1234567890ab",
			"encryptionAlgorithm": "SYMMETRIC_DEFAULT",
			"encryptionContext":   map[string]any{"tenant": fmt.Sprint("t", i%7), "<&>": "html"},
		},
		RequestID: fmt.Sprintf("req-%06d", i),
		EventID:   fmt.Sprintf("evt-%06d", i),
		ReadOnly:  true,
		Resources: []Resource{{
			AccountID: "111122223333", Type: ResourceTypeKey,
			ARN: "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		}},
		EventType:       EventTypeAPICall,
		ManagementEvent: true,
		EventCategory:   EventCategoryManagement,
	}
}

func mustCanonical(t testing.TB, e *Event) []byte {
	t.Helper()
	b, err := e.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestCanonicalKnownAnswer freezes the record encoding: field order, time
// layout, sorted map keys, no HTML escaping, omitted empty optional fields.
func TestCanonicalKnownAnswer(t *testing.T) {
	want := `{"eventVersion":"1.11","userIdentity":{"type":"IAMUser","principalId":"AIDAEXAMPLE",` +
		`"arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","accessKeyId":"AKIAEXAMPLE"},` +
		`"eventTime":"2026-03-01T12:00:00.004Z","eventSource":"kms.amazonaws.com","eventName":"Encrypt",` +
		`"awsRegion":"eu-west-1","sourceIPAddress":"192.0.2.10","userAgent":"kmsctl/1.0",` +
		`"requestParameters":{"encryptionAlgorithm":"SYMMETRIC_DEFAULT","encryptionContext":{"<&>":"html","tenant":"t3"},` +
		`"keyId":"1234abcd-12ab-34cd-56ef-1234567890ab"},"requestID":"req-000003","eventID":"evt-000003",` +
		`"readOnly":true,"resources":[{"accountId":"111122223333","type":"AWS::KMS::Key",` +
		`"ARN":"arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],` +
		`"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management"}`
	if got := string(mustCanonical(t, testEvent(3))); got != want {
		t.Errorf("Canonical =\n%s\nwant\n%s", got, want)
	}
}

func TestCanonicalRoundTrip(t *testing.T) {
	denied := testEvent(1)
	denied.ErrorCode, denied.ErrorMessage = "AccessDeniedException", "not authorized"
	denied.ReadOnly = false
	service := testEvent(2)
	service.EventType, service.EventName = EventTypeServiceEvent, "RotateKey"
	service.ServiceEventDetails = map[string]any{"keyId": "k", "n": json.Number("12345678901234567890")}
	withResponse := testEvent(4)
	withResponse.ResponseElements = map[string]any{"keyId": "k", "big": json.Number("1e400")}
	for i, e := range []*Event{testEvent(0), denied, service, withResponse} {
		b := mustCanonical(t, e)
		got, err := ParseEvent(b)
		if err != nil {
			t.Fatalf("Test %d: ParseEvent: %v", i, err)
		}
		if b2 := mustCanonical(t, got); !bytes.Equal(b, b2) {
			t.Errorf("Test %d: round trip changed the record:\n%s\n%s", i, b, b2)
		}
		if !got.EventTime.Equal(e.EventTime.Truncate(time.Millisecond)) {
			t.Errorf("Test %d: eventTime %v, want %v", i, got.EventTime, e.EventTime)
		}
	}
}

func TestParseEventRejects(t *testing.T) {
	good := string(mustCanonical(t, testEvent(0)))
	replace := func(old, new string) string { return strings.Replace(good, old, new, 1) }
	for i, c := range []struct {
		name, in string
	}{
		{"empty", ""},
		{"not an object", "[]"},
		{"unknown field", replace(`"readOnly"`, `"plaintext":"x","readOnly"`)},
		{"trailing data", good + "{}"},
		{"trailing garbage", good + "x"},
		{"major version 2", replace(`"1.11"`, `"2.0"`)},
		{"no version", replace(`"eventVersion":"1.11",`, ``)},
		{"bad minor", replace(`"1.11"`, `"1.x"`)},
		{"second precision time", replace(`12:00:00.000Z`, `12:00:00Z`)},
		{"non-UTC time", replace(`12:00:00.000Z`, `12:00:00.000+01:00`)},
		{"too large", replace(`"kmsctl/1.0"`, `"`+strings.Repeat("a", MaxEventSize)+`"`)},
		{"wrong type", replace(`"readOnly":true`, `"readOnly":"yes"`)},
	} {
		if _, err := ParseEvent([]byte(c.in)); !errors.Is(err, ErrMalformedEvent) {
			t.Errorf("Test %d (%s): err = %v, want ErrMalformedEvent", i, c.name, err)
		}
	}
}

// TestParseEventNewerMinor checks CloudTrail's versioning rule: a reader
// ignores fields added by a newer minor version.
func TestParseEventNewerMinor(t *testing.T) {
	good := string(mustCanonical(t, testEvent(0)))
	in := strings.Replace(strings.Replace(good, `"1.11"`, `"1.12"`, 1), `"readOnly"`, `"newField":1,"readOnly"`, 1)
	e, err := ParseEvent([]byte(in))
	if err != nil {
		t.Fatalf("ParseEvent: %v", err)
	}
	if e.EventVersion != "1.12" || e.EventName != "Encrypt" {
		t.Errorf("got version %q name %q", e.EventVersion, e.EventName)
	}
}

func TestCanonicalRejects(t *testing.T) {
	big := testEvent(0)
	big.UserAgent = strings.Repeat("a", MaxEventSize)
	unencodable := testEvent(0)
	unencodable.RequestParameters["f"] = func() {}
	for i, e := range []*Event{big, unencodable} {
		if _, err := e.Canonical(); err == nil {
			t.Errorf("Test %d: Canonical succeeded", i)
		}
	}
}

func FuzzParseEvent(f *testing.F) {
	f.Add(mustCanonical(f, testEvent(0)))
	service := testEvent(1)
	service.ServiceEventDetails = map[string]any{"a": []any{1, "x", nil, true}}
	f.Add(mustCanonical(f, service))
	f.Add([]byte(`{"eventVersion":"1.99","x":1}`))
	f.Add([]byte(`{"eventVersion":"1.11","eventTime":"2026-01-01T00:00:00.000Z"}`))
	f.Add([]byte(`{"eventVersion":"1.11","requestParameters":{"n":1e999}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEvent(b)
		if err != nil {
			return
		}
		c1, err := e.Canonical()
		if err != nil {
			return // e.g. re-encoding invalid UTF-8 grew the record past MaxEventSize
		}
		e2, err := ParseEvent(c1)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, c1)
		}
		c2, err := e2.Canonical()
		if err != nil || !bytes.Equal(c1, c2) {
			t.Fatalf("canonical form is not stable: %v\n%s\n%s", err, c1, c2)
		}
	})
}
