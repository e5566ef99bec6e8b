package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kmsd/kmsd/audit"
	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// The audit commands read kmsd's tamper-evident audit log (see the audit
// package): lookup and tail print records, export writes the log to a
// file, verify checks the live log or an export against the signed tree
// heads, prove proves one record's inclusion, public-key prints the key
// that signs the heads.

func init() {
	groups["audit"] = auditUsage
	keyFlags := []flagSpec{{"public-key", kindString, false}, {"public-key-file", kindString, false}}
	register(
		&command{name: "audit lookup", op: "LookupEvents", usage: auditLookupUsage, run: lookupEvents,
			flags: []flagSpec{{"event-name", kindString, false}, {"key-id", kindString, false},
				{"user-name", kindString, false}, {"start-time", kindString, false}, {"end-time", kindString, false},
				{"error-code", kindString, false}, {"event-id", kindString, false}, {"page-size", kindInt, false}}},
		&command{name: "audit tail", op: "TailEvents", usage: auditTailUsage, run: tailEvents, untimed: true,
			flags: []flagSpec{{"start-index", kindString, false}}},
		&command{name: "audit export", op: "GetEvents", usage: auditExportUsage, run: exportLog, untimed: true,
			ownsOutfile: true, flags: keyFlags},
		&command{name: "audit verify", op: "GetEvents", usage: auditVerifyUsage, run: verifyLog, untimed: true,
			flags: append([]flagSpec{{"file", kindString, false}, {"checkpoint", kindString, false}}, keyFlags...)},
		&command{name: "audit prove", op: "GetInclusionProof", usage: auditProveUsage, run: prove,
			flags: append([]flagSpec{{"event-id", kindString, false}, {"index", kindString, false},
				{"tree-size", kindString, false}, {"file", kindString, false}}, keyFlags...)},
		&command{name: "audit public-key", op: "GetPublicKey", usage: auditPublicKeyUsage, run: publicKey},
	)
}

// maxLookupPage is the largest MaxResults LookupEvents accepts.
const maxLookupPage = 1000

// lookupEvents pages through LookupEvents (see pages.go for --max-items).
func lookupEvents(ctx context.Context, c *call) (any, error) {
	a := c.args
	req := &kmsv1.LookupEventsRequest{EventName: a.strings["event-name"], KeyId: a.strings["key-id"],
		UserName: a.strings["user-name"], ErrorCode: a.strings["error-code"], EventId: a.strings["event-id"],
		NextToken: a.strings["starting-token"]}
	var err error
	if req.StartTime, err = timeFlag(a, "start-time"); err != nil {
		return nil, err
	}
	if req.EndTime, err = timeFlag(a, "end-time"); err != nil {
		return nil, err
	}
	if a.set["page-size"] && (a.ints["page-size"] < 1 || a.ints["page-size"] > maxLookupPage) {
		return nil, usagef("--page-size must be between 1 and %d", maxLookupPage)
	}
	var records [][]byte
	for {
		req.MaxResults = a.ints["page-size"]
		if a.set["max-items"] {
			req.MaxResults = int32(min(int(a.ints["max-items"])-len(records), maxLookupPage))
			if a.set["page-size"] {
				req.MaxResults = min(req.MaxResults, a.ints["page-size"])
			}
		}
		resp, err := c.audit.LookupEvents(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, e := range resp.GetEvents() {
			records = append(records, e.GetRecord())
		}
		req.NextToken = resp.GetNextToken()
		if req.NextToken == "" || (a.set["max-items"] && len(records) >= int(a.ints["max-items"])) {
			return eventsDocument(records, req.NextToken)
		}
	}
}

// eventsDocument builds {"Events":[...],"NextToken":"..."} with each record
// embedded as it is, so that its strings keep their exact bytes.
func eventsDocument(records [][]byte, next string) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteString(`{"Events":[`)
	for i, r := range records {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := json.Compact(&b, r); err != nil {
			return nil, fmt.Errorf("%w: kmsd sent a record that is not JSON: %v", errLocal, err)
		}
	}
	b.WriteByte(']')
	if next != "" {
		fmt.Fprintf(&b, `,"NextToken":%q`, next)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// timeFlag parses an RFC 3339 time, a date (midnight UTC) or Unix seconds.
func timeFlag(a *parsedArgs, name string) (*timestamppb.Timestamp, error) {
	v, ok := a.strings[name]
	if !ok {
		return nil, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return timestamppb.New(time.Unix(n, 0)), nil
	}
	for _, layout := range []string{time.RFC3339, time.DateOnly} {
		if t, err := time.Parse(layout, v); err == nil {
			return timestamppb.New(t), nil
		}
	}
	return nil, usagef("--%s %q is not an RFC 3339 time (2026-03-01T12:00:00Z), a date or Unix seconds", name, v)
}

// int64Flag parses a whole-number flag that may exceed an int32.
func int64Flag(a *parsedArgs, name string, def int64) (int64, error) {
	v, ok := a.strings[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, usagef("--%s %q is not a whole number", name, v)
	}
	return n, nil
}

// tailEvents prints each record as it is committed, one JSON object per
// line, until interrupted.
func tailEvents(ctx context.Context, c *call) (any, error) {
	start, err := int64Flag(c.args, "start-index", -1)
	if err != nil {
		return nil, err
	}
	stream, err := c.audit.TailEvents(ctx, &kmsv1.TailEventsRequest{StartIndex: start})
	if err != nil {
		return nil, err
	}
	for {
		e, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			return nil, nil
		case err != nil && ctx.Err() != nil:
			return nil, errInterrupted
		case err != nil:
			return nil, err
		}
		var line bytes.Buffer
		if err := json.Compact(&line, e.GetRecord()); err != nil {
			return nil, fmt.Errorf("%w: kmsd sent record %d that is not JSON: %v", errLocal, e.GetIndex(), err)
		}
		line.WriteByte('\n')
		if _, err := c.stdout.Write(line.Bytes()); err != nil {
			return nil, fmt.Errorf("%w: %v", errLocal, err)
		}
	}
}

// keyOutput is the result of audit public-key.
type keyOutput struct {
	PublicKey string `json:"PublicKey"`
	KeyID     string `json:"KeyId"`
}

func publicKey(ctx context.Context, c *call) (any, error) {
	resp, err := c.audit.GetPublicKey(ctx, &kmsv1.GetPublicKeyRequest{})
	if err != nil {
		return nil, err
	}
	pub, err := serverKey(resp)
	if err != nil {
		return nil, err
	}
	id := audit.KeyIDOf(pub)
	return keyOutput{PublicKey: base64.StdEncoding.EncodeToString(pub), KeyID: hex.EncodeToString(id[:])}, nil
}
