package envelope

import (
	"crypto/aes"
	"crypto/subtle"
	"encoding/binary"
)

// AES Key Wrap with Padding (RFC 5649), used by the
// RSA_AES_KEY_WRAP_SHA_256 import algorithm.

// kwpAIV is the first half of RFC 5649's alternative initial value.
var kwpAIV = [4]byte{0xa6, 0x59, 0x59, 0xa6}

// maxKeyWrapInput bounds what KeyWrapPad and KeyUnwrapPad handle.
const maxKeyWrapInput = 1 << 16

// KeyWrapPad wraps plaintext (1 to 65536 bytes) under kek (16, 24 or 32
// bytes) as RFC 5649 specifies: a single AES block for up to 8 bytes,
// otherwise the RFC 3394 wrapping process W with the alternative initial
// value A6 59 59 A6 || MLI. Another kek or plaintext length is refused with
// ErrInvalidWrappedKey.
func KeyWrapPad(kek, plaintext []byte) ([]byte, error) {
	block, err := aes.NewCipher(kek)
	if err != nil || len(plaintext) == 0 || len(plaintext) > maxKeyWrapInput {
		return nil, ErrInvalidWrappedKey
	}
	n := (len(plaintext) + 7) / 8
	out := make([]byte, 8*(n+1))
	copy(out, kwpAIV[:])
	binary.BigEndian.PutUint32(out[4:8], uint32(len(plaintext)))
	copy(out[8:], plaintext)
	if n == 1 {
		block.Encrypt(out, out)
		return out, nil
	}
	var b [16]byte
	for j := range 6 {
		for i := 1; i <= n; i++ {
			copy(b[:8], out[:8])
			copy(b[8:], out[8*i:8*i+8])
			block.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(out[:8], binary.BigEndian.Uint64(b[:8])^t)
			copy(out[8*i:], b[8:])
		}
	}
	return out, nil
}

// KeyUnwrapPad reverses KeyWrapPad. Every failure — a kek that is not 16,
// 24 or 32 bytes, a wrapped length that is not a multiple of 8 of at least
// 16, a wrong key, a bad integrity value, a length indicator out of bounds
// or non-zero padding — is ErrInvalidWrappedKey (not ErrDecrypt: the
// function exists for imports, whose one error that is).
func KeyUnwrapPad(kek, wrapped []byte) ([]byte, error) {
	block, err := aes.NewCipher(kek)
	if err != nil || len(wrapped) < 16 || len(wrapped)%8 != 0 || len(wrapped) > maxKeyWrapInput+16 {
		return nil, ErrInvalidWrappedKey
	}
	n := len(wrapped)/8 - 1
	buf := make([]byte, len(wrapped))
	copy(buf, wrapped)
	if n == 1 {
		block.Decrypt(buf, buf)
	} else {
		var b [16]byte
		for j := 5; j >= 0; j-- {
			for i := n; i >= 1; i-- {
				t := uint64(n*j + i)
				binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(buf[:8])^t)
				copy(b[8:], buf[8*i:8*i+8])
				block.Decrypt(b[:], b[:])
				copy(buf[:8], b[:8])
				copy(buf[8*i:], b[8:])
			}
		}
	}
	return checkKWP(buf, n)
}

// checkKWP verifies the integrity value, length indicator and padding of
// an unwrapped buffer A || P and returns the plaintext. The checks are
// combined without branching on secret values; only the verdict branches.
func checkKWP(buf []byte, n int) ([]byte, error) {
	mli := int(binary.BigEndian.Uint32(buf[4:8]))
	ok := subtle.ConstantTimeCompare(buf[:4], kwpAIV[:])
	ok &= leq(8*(n-1)+1, mli) & leq(mli, 8*n)
	pad := byte(0)
	for i, c := range buf[8:] {
		pad |= c & byte(-leq(mli, i)) // bytes at and after MLI must be zero
	}
	ok &= subtle.ConstantTimeByteEq(pad, 0)
	if ok != 1 {
		clear(buf)
		return nil, ErrInvalidWrappedKey
	}
	return buf[8 : 8+mli], nil
}

// leq returns 1 if x <= y and 0 otherwise, in constant time, for x and y
// in [0, 2^32] (subtle.ConstantTimeLessOrEq stops at 2^31-1, and the MLI
// is a 32-bit field).
func leq(x, y int) int {
	return int(uint64(int64(x)-int64(y)-1) >> 63)
}
