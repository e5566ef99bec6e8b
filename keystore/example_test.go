package keystore_test

import (
	"fmt"
	"log"
	"os"
	"time"

	"github.com/kmsd/kmsd/keystore"
)

func Example() {
	dir, err := os.MkdirTemp("", "keystore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := keystore.Open(dir, keystore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	// Everything time-dependent or random is chosen by the proposer and
	// carried in the mutation; the material is already wrapped.
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	create := &keystore.Mutation{
		Op:   keystore.OpCreateKey,
		Time: now,
		Key: &keystore.Key{
			ID:           "1234abcd-12ab-34cd-56ef-1234567890ab",
			Usage:        "ENCRYPT_DECRYPT",
			Spec:         "SYMMETRIC_DEFAULT",
			Origin:       keystore.OriginAWSKMS,
			State:        keystore.Enabled,
			CreationDate: now,
			Versions: []keystore.Version{{
				MaterialID:   "5f0e...",
				Wrapped:      []byte("material sealed under the root key"),
				CreationDate: now,
			}},
		},
	}
	// In kmsd the index is the Raft log index of the entry.
	if err := store.Apply(1, create); err != nil {
		log.Fatal(err)
	}

	key, err := store.Key("1234abcd-12ab-34cd-56ef-1234567890ab")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key.State, len(key.Versions), store.AppliedIndex())
	// Output: Enabled 1 1
}
