package audit

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"testing"
	"time"
)

// testKey derives a deterministic Ed25519 key from a label.
func testKey(label string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte(label))
	return ed25519.NewKeyFromSeed(seed[:])
}

func testHead() TreeHead {
	return TreeHead{
		Size:      1000,
		Root:      LeafHash([]byte("root")),
		Timestamp: time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.FixedZone("x", 3600)),
		PrevSize:  900,
	}
}

func TestTreeHeadMarshalKnownAnswer(t *testing.T) {
	h := testHead()
	want := "kmsd audit tree head v1\n1000\n" + h.Root.String() + "\n1772362800123\n900\n"
	if got := string(h.Marshal()); got != want {
		t.Fatalf("Marshal =\n%q\nwant\n%q", got, want)
	}
	back, err := ParseTreeHead([]byte(want))
	if err != nil {
		t.Fatal(err)
	}
	if back.Size != h.Size || back.Root != h.Root || back.PrevSize != h.PrevSize ||
		!back.Timestamp.Equal(h.Timestamp.Truncate(time.Millisecond)) || back.Timestamp.Location() != time.UTC {
		t.Errorf("ParseTreeHead = %+v, want %+v", back, h)
	}
}

func TestParseTreeHeadRejects(t *testing.T) {
	good := testHead().Marshal()
	edit := func(old, new string) []byte { return bytes.Replace(good, []byte(old), []byte(new), 1) }
	for i, c := range []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"wrong magic", edit("v1", "v2")},
		{"leading zero", edit("\n1000\n", "\n01000\n")},
		{"plus sign", edit("\n1000\n", "\n+1000\n")},
		{"no final newline", good[:len(good)-1]},
		{"extra line", append(append([]byte(nil), good...), "x\n"...)},
		{"short root", edit(testHead().Root.String(), "AAAA")},
		{"size over int64", edit("\n1000\n", "\n9223372036854775808\n")},
		{"prev over size", edit("\n900\n", "\n1001\n")},
		{"negative time", edit("\n1772362800123\n", "\n-1\n")},
		{"CRLF", bytes.ReplaceAll(good, []byte("\n"), []byte("\r\n"))},
	} {
		if _, err := ParseTreeHead(c.in); !errors.Is(err, ErrMalformedHead) {
			t.Errorf("Test %d (%s): err = %v, want ErrMalformedHead", i, c.name, err)
		}
	}
}

func TestSignVerify(t *testing.T) {
	priv := testKey("log")
	pub := priv.Public().(ed25519.PublicKey)
	sth, err := Sign(priv, testHead())
	if err != nil {
		t.Fatal(err)
	}
	if sth.KeyID != KeyIDOf(pub) {
		t.Errorf("KeyID = %x, want %x", sth.KeyID, KeyIDOf(pub))
	}
	h, err := VerifySignedTreeHead(pub, sth)
	if err != nil {
		t.Fatal(err)
	}
	if h != sth.Head {
		t.Errorf("verified head %+v, signed %+v", h, sth.Head)
	}

	other := testKey("attacker")
	forged, _ := Sign(other, testHead())
	otherPub := other.Public().(ed25519.PublicKey)
	stolenID := forged
	stolenID.KeyID = sth.KeyID
	for i, c := range []struct {
		name string
		pub  ed25519.PublicKey
		sth  SignedTreeHead
		want error
	}{
		{"wrong key", pub, forged, ErrUnknownKey},
		{"wrong key, right key ID", pub, stolenID, ErrBadSignature},
		{"verify with other key", otherPub, sth, ErrUnknownKey},
		{"size edited", pub, editHead(sth, func(h *TreeHead) { h.Size++ }), ErrBadSignature},
		{"root edited", pub, editHead(sth, func(h *TreeHead) { h.Root[31] ^= 1 }), ErrBadSignature},
		{"time edited", pub, editHead(sth, func(h *TreeHead) { h.Timestamp = h.Timestamp.Add(time.Millisecond) }), ErrBadSignature},
		{"prev edited", pub, editHead(sth, func(h *TreeHead) { h.PrevSize-- }), ErrBadSignature},
		{"signature bit", pub, editSig(sth, func(s []byte) { s[10] ^= 4 }), ErrBadSignature},
		{"signature cut", pub, editSig(sth, func(s []byte) {}), ErrBadSignature},
	} {
		if c.name == "signature cut" {
			c.sth.Signature = c.sth.Signature[:63]
		}
		if _, err := VerifySignedTreeHead(c.pub, c.sth); !errors.Is(err, c.want) {
			t.Errorf("Test %d (%s): err = %v, want %v", i, c.name, err, c.want)
		}
	}
}

func editHead(s SignedTreeHead, f func(*TreeHead)) SignedTreeHead {
	f(&s.Head)
	return s
}

func editSig(s SignedTreeHead, f func([]byte)) SignedTreeHead {
	s.Signature = append([]byte(nil), s.Signature...)
	f(s.Signature)
	return s
}

func TestSignRejects(t *testing.T) {
	priv := testKey("log")
	for i, c := range []struct {
		name string
		priv ed25519.PrivateKey
		h    TreeHead
	}{
		{"short key", priv[:32], testHead()},
		{"prev over size", priv, TreeHead{Size: 1, PrevSize: 2, Timestamp: time.UnixMilli(1)}},
		{"before 1970", priv, TreeHead{Timestamp: time.UnixMilli(-1)}},
		{"size over int64", priv, TreeHead{Size: 1 << 63, Timestamp: time.UnixMilli(1)}},
	} {
		if _, err := Sign(c.priv, c.h); err == nil {
			t.Errorf("Test %d (%s): Sign succeeded", i, c.name)
		}
	}
}
