package envelope_test

import (
	"crypto/rand"
	"fmt"

	"github.com/kmsd/kmsd/envelope"
)

// A key version's material encrypts a message bound to an encryption
// context; only the same context decrypts it.
func Example() {
	material, _ := envelope.GenerateKey(rand.Reader)
	keyID, _ := envelope.NewKeyID(rand.Reader)
	ec := map[string]string{"tenant": "acme", "purpose": "backup"}

	blob, _ := envelope.Seal(rand.Reader, material, keyID, []byte("attack at dawn"), ec)
	h, _ := envelope.ParseHeader(blob)
	fmt.Println(len(blob), h.KeyID == keyID, h.MaterialID == material.MaterialID())

	pt, err := envelope.Open(material, blob, ec)
	fmt.Println(string(pt), err)

	_, err = envelope.Open(material, blob, map[string]string{"tenant": "acme"})
	fmt.Println(err)
	fmt.Println(material)
	// Output:
	// 124 true true
	// attack at dawn <nil>
	// envelope: decryption failed
	// [REDACTED]
}
