package kmsv1_test

import (
	"context"
	"fmt"
	"log"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// A client creates a key and asks for a data key under it: the plaintext
// copy encrypts data locally and is then forgotten; the encrypted copy is
// stored next to the data and sent to Decrypt when the data is read.
func Example_client() {
	conn, err := grpc.NewClient("127.0.0.1:7400", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	kms := kmsv1.NewKeyManagementServiceClient(conn)
	ctx := context.Background()

	key, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	ec := map[string]string{"table": "orders"}
	dk, err := kms.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{
		KeyId: key.GetKeyMetadata().GetKeyId(), KeySpec: "AES_256", EncryptionContext: ec,
	})
	if err != nil {
		log.Fatal(err)
	}
	// ... encrypt with dk.Plaintext, store dk.CiphertextBlob ...
	pt, err := kms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: dk.GetCiphertextBlob(), EncryptionContext: ec})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(pt.GetPlaintext()))
}
