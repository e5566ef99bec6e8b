package server

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var visibilityRounds = flag.Int("visibility-rounds", 100, "rounds of TestChangesAreVisibleOnEveryMember (R6: 3,400 rounds make 10,000 probes)")

// TestChangesAreVisibleOnEveryMember (R6, R7, read-your-writes across
// members): once any member has acknowledged a change, every member's
// answers reflect it: a key created through one member is found on the
// others at once, a key disabled through one is refused by all (0 successes
// after the acknowledgement), and a ciphertext made with a freshly rotated
// key decrypts on every member.
func TestChangesAreVisibleOnEveryMember(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	ms := newMembers(t, 3, clock)
	leaderOf(t, ms)
	ctx := context.Background()
	probes, stale := 0, 0
	for round := range *visibilityRounds {
		via := ms[round%3]
		var k *kmsv1.CreateKeyResponse
		err := retryUnavailable(func() (err error) {
			k, err = via.kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: fmt.Sprint("round ", round)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		id := k.GetKeyMetadata().GetKeyId()
		for _, m := range ms {
			if m == via {
				continue
			}
			if err := retryUnavailable(func() error {
				_, err := m.kms.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id})
				return err
			}); err != nil {
				t.Fatalf("round %d: key created through %s not found on %s: %v", round, via.apiAddr, m.apiAddr, err)
			}
		}
		// Rotation: encrypt on one member right after the rotation, decrypt
		// on the others.
		if err := retryUnavailable(func() error {
			_, err := via.kms.RotateKeyOnDemand(ctx, &kmsv1.RotateKeyOnDemandRequest{KeyId: id})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		var enc *kmsv1.EncryptResponse
		if err := retryUnavailable(func() (err error) {
			enc, err = ms[(round+1)%3].kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: id, Plaintext: []byte("x")})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if err := retryUnavailable(func() error {
				_, err := m.kms.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: enc.GetCiphertextBlob()})
				return err
			}); err != nil {
				t.Fatalf("round %d: a ciphertext of the rotated key does not decrypt on %s: %v", round, m.apiAddr, err)
			}
		}
		// Disable: no member encrypts with the key after the ack.
		if err := retryUnavailable(func() error {
			_, err := ms[(round+2)%3].kms.DisableKey(ctx, &kmsv1.DisableKeyRequest{KeyId: id})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			probes++
			if _, err := m.kms.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: id, NumberOfBytes: 32}); err == nil {
				stale++
			}
		}
	}
	t.Logf("%d rounds, %d probes after DisableKey was acknowledged, %d succeeded", *visibilityRounds, probes, stale)
	if stale != 0 {
		t.Fatalf("%d of %d probes used a key after its DisableKey was acknowledged", stale, probes)
	}
}

// retryUnavailable makes call up to five times while it is answered
// Unavailable, as AWS SDKs retry: the member could not commit the call's
// audit record or reach the leader in time (a leader change, a loaded
// machine), and said so; every call here may be made again. A change the
// test checks is the one acknowledged last.
func retryUnavailable(call func() error) error {
	var err error
	for range 5 {
		if err = call(); status.Code(err) != codes.Unavailable {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}
