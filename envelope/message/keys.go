package message

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
)

// HKDF labels; see Keys in the package documentation.
const (
	keyLabel    = "kmsd/v1/message/key"
	commitLabel = "kmsd/v1/message/commit"
)

// Frame kinds, in the additional data of each frame.
const (
	kindRegular byte = 0x01
	kindFinal   byte = 0x02
)

// messageKeys derives the message's AES-GCM and its key commitment from
// the data key and the message id.
func messageKeys(dataKey []byte, id *[IDSize]byte) (cipher.AEAD, [commitSize]byte, error) {
	var commit [commitSize]byte
	k, err := derive(dataKey, id, keyLabel)
	if err != nil {
		return nil, commit, err
	}
	defer clear(k)
	c, err := derive(dataKey, id, commitLabel)
	if err != nil {
		return nil, commit, err
	}
	copy(commit[:], c)
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, commit, err
	}
	g, err := cipher.NewGCM(block)
	return g, commit, err
}

func derive(dataKey []byte, id *[IDSize]byte, label string) ([]byte, error) {
	return hkdf.Key(sha256.New, dataKey, id[:], label+string([]byte{Version1, SuiteAES256GCMCommitting}), 32)
}

// commitmentsEqual compares two commitments in constant time.
func commitmentsEqual(a, b *[commitSize]byte) bool {
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

// frameNonce is the nonce of frame seq (0: the header tag).
func frameNonce(seq uint32) [nonceSize]byte {
	var n [nonceSize]byte
	binary.BigEndian.PutUint32(n[8:], seq)
	return n
}

// frameParams holds a frame's nonce and additional data, kept in the
// Writer or Reader so that no frame allocates.
type frameParams struct {
	nonce [nonceSize]byte
	aad   [IDSize + 13]byte
}

// set fills in the nonce and additional data of a frame; the message id
// is already in aad.
func (f *frameParams) set(kind byte, seq uint32, length int) {
	binary.BigEndian.PutUint32(f.nonce[8:], seq)
	f.aad[IDSize] = kind
	binary.BigEndian.PutUint32(f.aad[IDSize+1:], seq)
	binary.BigEndian.PutUint64(f.aad[IDSize+5:], uint64(length))
}
