package message

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"testing"
)

// Known answers: fixed data key, message id and inputs give these exact
// bytes. They freeze the format; a change here breaks every message ever
// written.
var kats = []struct {
	name      string
	frameSize int
	keyID     string
	ec        map[string]string
	wrapped   string
	plaintext string
	want      string
}{
	{
		name: "three frames with a context", frameSize: 16, keyID: "arn:aws:kms:us-east-1:111122223333:key/kat",
		ec: map[string]string{"purpose": "kat", "a": "b"}, wrapped: "0102030405060708090a",
		plaintext: "kmsd known-answer test plaintext!!",
		want: "4b4d53450101202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f00000010002a61726e3a" +
			"6177733a6b6d733a75732d656173742d313a3131313132323232333333333a6b65792f6b617400160002000161000162" +
			"0007707572706f736500036b6174000a0102030405060708090aae45656a0091fa3646f596759e99816ed5ae5e6f7c72" +
			"6380596e62b160b615fced097c6b381370a05c3d67f61887e8550000000194a0415cbbe2db78e7e3ff51e3af1524cb53" +
			"7ff65a69b4de23340db710712be400000002474bcb00e2c257f1e964c14d2ee0bbdaea66e2db264e8f2c4bf9fb5c33c5" +
			"437affffffff0000000300000002c9899083db33318ea69d6e2907181bf7d6d3",
	},
	{
		name: "empty, no context", frameSize: 65536, keyID: "k", wrapped: "ff",
		want: "4b4d53450101202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f0001000000016b000000" +
			"01ffae45656a0091fa3646f596759e99816ed5ae5e6f7c726380596e62b160b615fcd66d282c356067354e37adcf6139" +
			"5ab6ffffffff000000010000000036a1dd1a4462515981c8e0d27ca30efc",
	},
}

func katInputs() (dk []byte, id [IDSize]byte) {
	dk = make([]byte, DataKeySize)
	for i := range dk {
		dk[i] = byte(i)
	}
	for i := range id {
		id[i] = 0x20 + byte(i)
	}
	return dk, id
}

func TestKnownAnswers(t *testing.T) {
	dk, id := katInputs()
	for _, k := range kats {
		wrapped, _ := hex.DecodeString(k.wrapped)
		h := Header{MessageID: id, FrameSize: k.frameSize, KeyID: k.keyID, EncryptionContext: k.ec, WrappedKey: wrapped}
		got := seal(t, dk, h, []byte(k.plaintext), 0)
		ref := referenceEncode(t, dk, id, k.frameSize, k.keyID, k.ec, wrapped, []byte(k.plaintext))
		if !bytes.Equal(got, ref) {
			t.Errorf("%s: Writer and the reference encoder differ:\n%x\n%x", k.name, got, ref)
		}
		if hex.EncodeToString(got) != k.want {
			t.Errorf("%s: got\n%x\nwant\n%s", k.name, got, k.want)
		}
		want, _ := hex.DecodeString(k.want)
		pt, err := open(want, dk, false)
		if err != nil || string(pt) != k.plaintext {
			t.Errorf("%s: the known answer does not decrypt: %v", k.name, err)
		}
	}
}

// referenceEncode writes a message from the package documentation alone,
// with the standard library's HKDF and AES-GCM, as an independent check
// of the Writer.
func referenceEncode(t *testing.T, dk []byte, id [IDSize]byte, fs int, keyID string, ec map[string]string, wrapped, pt []byte) []byte {
	t.Helper()
	suite := string([]byte{1, 1})
	k, _ := hkdf.Key(sha256.New, dk, id[:], "kmsd/v1/message/key"+suite, 32)
	commit, _ := hkdf.Key(sha256.New, dk, id[:], "kmsd/v1/message/commit"+suite, 32)
	block, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(block)
	be16 := func(n int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(n)) }
	be32 := func(n int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(n)) }
	// The context encoding, written out: count, then sorted pairs.
	var ctx []byte
	if len(ec) > 0 {
		keys := []string{}
		for key := range ec {
			keys = append(keys, key)
		}
		for i := range keys { // insertion sort, to depend on nothing
			for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
				keys[j], keys[j-1] = keys[j-1], keys[j]
			}
		}
		ctx = be16(len(keys))
		for _, key := range keys {
			ctx = cat(ctx, be16(len(key)), []byte(key), be16(len(ec[key])), []byte(ec[key]))
		}
	}
	hdr := cat([]byte("KMSE\x01\x01"), id[:], be32(fs), be16(len(keyID)), []byte(keyID),
		be16(len(ctx)), ctx, be16(len(wrapped)), wrapped, commit)
	nonce := func(seq int) []byte { return cat(make([]byte, 8), be32(seq)) }
	aad := func(kind byte, seq, n int) []byte {
		return cat(id[:], []byte{kind}, be32(seq), binary.BigEndian.AppendUint64(nil, uint64(n)))
	}
	out := cat(hdr, g.Seal(nil, nonce(0), nil, hdr))
	seq := 1
	for ; len(pt) >= fs; seq++ {
		out = cat(out, be32(seq), g.Seal(nil, nonce(seq), pt[:fs], aad(1, seq, fs)))
		pt = pt[fs:]
	}
	return cat(out, be32(0xFFFFFFFF), be32(seq), be32(len(pt)), g.Seal(nil, nonce(seq), pt, aad(2, seq, len(pt))))
}
