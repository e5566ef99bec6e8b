package encrypt_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/kmsd/kmsd/encrypt"
	"github.com/kmsd/kmsd/encrypt/encrypttest"
)

// Encrypt and decrypt with a stand-in for kmsd; an application passes
// kmsv1.NewKeyManagementServiceClient(conn) instead.
func Example() {
	ctx := context.Background()
	kms := encrypttest.NewKMS()
	keyARN := kms.CreateKey()
	client, err := encrypt.New(kms)
	if err != nil {
		panic(err)
	}
	ec := map[string]string{"order": "1234"}

	msg, err := client.Encrypt(ctx, keyARN, []byte("attack at dawn"), ec)
	if err != nil {
		panic(err)
	}
	pt, err := client.Decrypt(ctx, msg, ec)
	fmt.Printf("%s %v\n", pt, err)

	_, err = client.Decrypt(ctx, msg, map[string]string{"order": "9999"})
	fmt.Println(err)

	msg[len(msg)-1] ^= 1
	_, err = client.Decrypt(ctx, msg, ec)
	fmt.Println(err)
	fmt.Println("calls to kmsd:", kms.Calls("GenerateDataKey"), kms.Calls("Decrypt"))
	// Output:
	// attack at dawn <nil>
	// encrypt: the message's encryption context does not hold the required pairs
	// envelope: decryption failed
	// calls to kmsd: 1 2
}

// Stream a large input with bounded memory.
func ExampleClient_NewEncryptingWriter() {
	ctx := context.Background()
	kms := encrypttest.NewKMS()
	keyARN := kms.CreateKey()
	client, _ := encrypt.New(kms)

	var sealed bytes.Buffer
	w, err := client.NewEncryptingWriter(ctx, &sealed, keyARN, nil)
	if err != nil {
		panic(err)
	}
	if _, err := io.Copy(w, strings.NewReader(strings.Repeat("data ", 100000))); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil { // writes the final frame
		panic(err)
	}

	r, err := client.NewDecryptingReader(ctx, &sealed, nil)
	if err != nil {
		panic(err)
	}
	n, err := io.Copy(io.Discard, r)
	fmt.Println(n, err)
	// Output: 500000 <nil>
}
