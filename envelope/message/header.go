package message

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/kmsd/kmsd/envelope"
)

// Format constants; see the package documentation.
const (
	// Magic opens every message.
	Magic = "KMSE"
	// Version1 is the only format version so far.
	Version1 byte = 0x01
	// SuiteAES256GCMCommitting is AES-256-GCM under keys from HKDF-SHA256,
	// with key commitment.
	SuiteAES256GCMCommitting byte = 0x01

	// DataKeySize is the size of a data key (kmsd's AES_256 key spec).
	DataKeySize = 32
	// IDSize is the size of a message id.
	IDSize = 32
	// DefaultFrameSize is the frame size the encrypt package uses unless
	// told otherwise.
	DefaultFrameSize = 64 << 10
	// MaxFrameSize bounds the frame size, and so the memory a reader needs.
	MaxFrameSize = 4 << 20
	// MaxKeyIDBytes bounds the key id.
	MaxKeyIDBytes = 2048
	// MaxWrappedKeyBytes bounds the wrapped data key.
	MaxWrappedKeyBytes = 4096

	commitSize = 32
	tagSize    = 16
	nonceSize  = 12
	fixedSize  = len(Magic) + 2 + IDSize + 4 // magic .. frame size
	// finalMarker opens the final frame.
	finalMarker = 0xFFFFFFFF
)

// ErrInvalidHeader is a Header that NewWriter cannot write: a mistake of
// the caller, explained in the message.
var ErrInvalidHeader = errors.New("message: invalid header")

// ErrTooLong: more plaintext than one message can hold (2^32-1 frames).
var ErrTooLong = errors.New("message: plaintext too long for one message")

// Header is the clear-text part of a message. ReadHeader returns it
// unauthenticated: NewReader authenticates it.
type Header struct {
	// MessageID is random and fresh for every message.
	MessageID [IDSize]byte
	// FrameSize is the plaintext size of every frame but the last.
	FrameSize int
	// KeyID names the key the data key was generated under.
	KeyID string
	// EncryptionContext is the context the data key is bound to.
	EncryptionContext map[string]string
	// WrappedKey is the data key encrypted by kmsd (its CiphertextBlob).
	WrappedKey []byte

	// commitment and tag are set by ReadHeader; encoded holds the header
	// bytes the tag authenticates.
	commitment [commitSize]byte
	tag        [tagSize]byte
	encoded    []byte
}

// check validates h for writing.
func (h *Header) check() error {
	switch {
	case h.FrameSize < 1 || h.FrameSize > MaxFrameSize:
		return fmt.Errorf("%w: frame size %d is not between 1 and %d", ErrInvalidHeader, h.FrameSize, MaxFrameSize)
	case h.KeyID == "" || len(h.KeyID) > MaxKeyIDBytes || !utf8.ValidString(h.KeyID):
		return fmt.Errorf("%w: the key id must be 1 to %d bytes of UTF-8", ErrInvalidHeader, MaxKeyIDBytes)
	case len(h.WrappedKey) == 0 || len(h.WrappedKey) > MaxWrappedKeyBytes:
		return fmt.Errorf("%w: the wrapped key must be 1 to %d bytes", ErrInvalidHeader, MaxWrappedKeyBytes)
	}
	return envelope.ValidateContext(h.EncryptionContext)
}

// encode returns the header bytes up to and including the commitment.
func (h *Header) encode(commitment *[commitSize]byte) ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	ec, err := envelope.EncodeContext(h.EncryptionContext)
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, fixedSize+6+len(h.KeyID)+len(ec)+len(h.WrappedKey)+commitSize+tagSize)
	b = append(b, Magic...)
	b = append(b, Version1, SuiteAES256GCMCommitting)
	b = append(b, h.MessageID[:]...)
	b = binary.BigEndian.AppendUint32(b, uint32(h.FrameSize))
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.KeyID)))
	b = append(b, h.KeyID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(ec)))
	b = append(b, ec...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(h.WrappedKey)))
	b = append(b, h.WrappedKey...)
	return append(b, commitment[:]...), nil
}

// ReadHeader reads a message's header from r, reading nothing beyond it,
// and checks its framing. It proves nothing about authenticity (NewReader
// does) and needs no key. Any problem, input that ends too early
// included, is envelope.ErrDecrypt; other errors of r are returned as
// they are.
func ReadHeader(r io.Reader) (*Header, error) {
	b := make([]byte, fixedSize+2, 512)
	if err := readFull(r, b); err != nil {
		return nil, err
	}
	if string(b[:4]) != Magic || b[4] != Version1 || b[5] != SuiteAES256GCMCommitting {
		return nil, envelope.ErrDecrypt
	}
	h := &Header{}
	copy(h.MessageID[:], b[6:])
	fs := binary.BigEndian.Uint32(b[fixedSize-4:])
	if fs < 1 || fs > MaxFrameSize {
		return nil, envelope.ErrDecrypt
	}
	h.FrameSize = int(fs)
	// Three length-prefixed fields; each read also takes the next field's
	// length (the last one: the commitment and tag).
	var fields [3][]byte
	limits := [3]int{MaxKeyIDBytes, 0xFFFF, MaxWrappedKeyBytes}
	for i := range fields {
		n := int(binary.BigEndian.Uint16(b[len(b)-2:]))
		if (n == 0 && i != 1) || n > limits[i] {
			return nil, envelope.ErrDecrypt
		}
		next := 2
		if i == 2 {
			next = commitSize + tagSize
		}
		start := len(b)
		b = slices.Grow(b, n+next)[:start+n+next]
		if err := readFull(r, b[start:]); err != nil {
			return nil, err
		}
		fields[i] = b[start : start+n]
	}
	h.KeyID = string(fields[0])
	if !utf8.ValidString(h.KeyID) {
		return nil, envelope.ErrDecrypt
	}
	ec, err := envelope.DecodeContext(fields[1])
	if err != nil {
		return nil, envelope.ErrDecrypt
	}
	h.EncryptionContext = ec
	h.WrappedKey = append([]byte(nil), fields[2]...)
	end := len(b) - tagSize
	copy(h.commitment[:], b[end-commitSize:end])
	copy(h.tag[:], b[end:])
	h.encoded = b[:end]
	return h, nil
}

// Size returns the length of h's encoding, header tag included.
func (h *Header) Size() int {
	if h.encoded != nil {
		return len(h.encoded) + tagSize
	}
	ec, _ := envelope.EncodeContext(h.EncryptionContext)
	return fixedSize + 6 + len(h.KeyID) + len(ec) + len(h.WrappedKey) + commitSize + tagSize
}
