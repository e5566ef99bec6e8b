package audit

import (
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Checkpoints. The heads of a log are chained (each names the size of the
// one before), so a head removed from the middle, or records changed under
// one, are found by VerifyLog. What no log can show by itself is that its
// end was cut off: records removed from the tail together with every head
// that covered them leave a shorter log that verifies. An auditor closes
// that gap by keeping, between two verifications, the newest head it
// verified — a checkpoint — and requiring the next log to still hold that
// exact head (kmsd never removes a head, retention included). The
// checkpoint lives with the auditor, out of reach of whoever can write the
// log's store.

// checkpointJSON is the file form of a checkpoint: one signed head as an
// export carries it, and when it was saved.
type checkpointJSON struct {
	Head      []byte `json:"head"`
	Signature []byte `json:"signature"`
	KeyID     string `json:"keyId"`
	SavedAt   string `json:"savedAt,omitempty"`
}

// MaxCheckpointSize bounds a checkpoint file.
const MaxCheckpointSize = 4 << 10

// MarshalCheckpoint returns sth (without its Leaves) as a checkpoint file,
// noting that it was saved at now.
func MarshalCheckpoint(sth SignedTreeHead, now time.Time) ([]byte, error) {
	e := toExportHead(SignedTreeHead{Head: sth.Head, KeyID: sth.KeyID, Signature: sth.Signature})
	b, err := json.MarshalIndent(checkpointJSON{Head: e.Head, Signature: e.Signature, KeyID: e.KeyID,
		SavedAt: now.UTC().Format(time.RFC3339)}, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ParseCheckpoint reads a checkpoint file. It checks the form, not the
// signature (CheckCheckpoint does). Errors wrap ErrMalformedExport or
// ErrMalformedHead.
func ParseCheckpoint(b []byte) (SignedTreeHead, error) {
	if len(b) > MaxCheckpointSize {
		return SignedTreeHead{}, fmt.Errorf("%w: checkpoint of %d bytes", ErrMalformedExport, len(b))
	}
	var c checkpointJSON
	if err := json.Unmarshal(b, &c); err != nil {
		return SignedTreeHead{}, fmt.Errorf("%w: checkpoint: %v", ErrMalformedExport, err)
	}
	return fromExportHead(exportHead{Head: c.Head, Signature: c.Signature, KeyID: c.KeyID})
}

// ErrBadCheckpoint means a checkpoint's signature does not verify under the
// log's key: the checkpoint file, not the log, is at fault.
var ErrBadCheckpoint = errors.New("audit: checkpoint not signed by the log's key")

// CheckCheckpoint reports whether a log whose signed heads are heads
// (oldest first, already verified with VerifyLog or VerifyLogFrom under
// pub) still holds checkpoint cp, a head verified earlier: one of heads must
// be cp exactly. A log that lost its tail since, with the heads that covered
// it, fails with a *TamperError whose Index is the first record missing. A
// log whose head of cp's size has another root, or that no longer holds cp,
// was re-signed with the log's key: it fails with a *TamperError at index 0,
// since the checkpoint cannot tell which records before it changed. A
// checkpoint that does not verify under pub returns an error wrapping
// ErrBadCheckpoint.
func CheckCheckpoint(heads []SignedTreeHead, cp SignedTreeHead, pub ed25519.PublicKey) error {
	want, err := VerifySignedTreeHead(pub, cp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCheckpoint, err)
	}
	stamp := want.Timestamp.Format(time.RFC3339)
	for i, sth := range heads {
		h := sth.Head
		switch {
		case h.Size == want.Size && equalHash(h.Root, want.Root) && h.Timestamp.Equal(want.Timestamp) && h.PrevSize == want.PrevSize:
			return nil
		case h.Size == want.Size && !equalHash(h.Root, want.Root):
			return tamper(0, i, fmt.Sprintf(
				"head %d covers %d records with another root than the checkpoint's head (signed %s): records before %d were changed and the heads signed again since",
				i, h.Size, stamp, want.Size))
		}
	}
	if n := len(heads); n == 0 || heads[n-1].Head.Size < want.Size {
		last := uint64(0)
		if n > 0 {
			last = heads[n-1].Head.Size
		}
		return tamper(last, -1, fmt.Sprintf(
			"the newest signed head covers %d records, but a head verified before (the checkpoint, signed %s) covered %d: records %d to %d and the heads that covered them were removed",
			last, stamp, want.Size, last, want.Size-1))
	}
	return tamper(0, -1, fmt.Sprintf(
		"the checkpoint's head (%d records, signed %s) is no longer among the signed heads: the heads were signed again since",
		want.Size, stamp))
}
