package e2e

import (
	"encoding/base64"
	"testing"
	"time"
)

// TestRotationThroughKmsctl rotates a key with the real kmsctl and daemon:
// every ciphertext made before a rotation keeps decrypting, re-encrypt
// moves it to the newest material, and list-key-versions shows each
// version's encryption count once the daemon has committed it.
func TestRotationThroughKmsctl(t *testing.T) {
	d := startDaemon(t)
	key := str(d.ok("create-key", "--description", "rotating"), "KeyMetadata.KeyId")
	var blobs []string
	for i := range 3 {
		for range i + 1 {
			blobs = append(blobs, str(d.ok("encrypt", "--key-id", key, "--plaintext", b64("rotate me")), "CiphertextBlob"))
		}
		d.ok("rotate-key-on-demand", "--key-id", key)
	}
	rot := d.ok("list-key-rotations", "--key-id", key)
	if n := len(field(rot, "Rotations").([]any)); n != 3 {
		t.Fatalf("%d rotations listed, want 3", n)
	}
	current := str(d.ok("describe-key", "--key-id", key), "KeyMetadata.CurrentKeyMaterialId")
	for _, b := range blobs {
		dec := d.ok("decrypt", "--ciphertext-blob", b)
		if pt, _ := base64.StdEncoding.DecodeString(str(dec, "Plaintext")); string(pt) != "rotate me" {
			t.Fatal("a ciphertext from before a rotation does not decrypt")
		}
		re := d.ok("re-encrypt", "--ciphertext-blob", b, "--destination-key-id", key)
		if str(re, "DestinationKeyMaterialId") != current {
			t.Fatalf("re-encrypt went to %s, want the current %s", str(re, "DestinationKeyMaterialId"), current)
		}
	}
	// Encryptions per version: 1, 2 and 3 before each rotation, then 6
	// re-encryptions under the newest. Counts are committed every second.
	want := []float64{1, 2, 3, 6}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mats, _ := field(d.ok("list-key-versions", "--key-id", key), "KeyMetadata.KeyMaterials").([]any)
		got := counts(mats)
		if equalCounts(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("encryption counts %v, want %v", got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Automatic rotation settings.
	d.ok("enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "180")
	st := d.ok("get-key-rotation-status", "--key-id", key)
	if field(st, "KeyRotationEnabled") != true || field(st, "RotationPeriodInDays") != float64(180) || str(st, "NextRotationDate") == "" {
		t.Fatalf("rotation status %v", st)
	}
	d.fails("ValidationException", "enable-key-rotation", "--key-id", key, "--rotation-period-in-days", "30")
	d.ok("disable-key-rotation", "--key-id", key)
	if field(d.ok("get-key-rotation-status", "--key-id", key), "KeyRotationEnabled") == true {
		t.Fatal("rotation still enabled")
	}
	ext := str(d.ok("create-key", "--origin", "EXTERNAL"), "KeyMetadata.KeyId")
	d.fails("UnsupportedOperationException", "enable-key-rotation", "--key-id", ext)
}

func counts(mats []any) []float64 {
	var out []float64
	for _, m := range mats {
		n, _ := m.(map[string]any)["EncryptionCount"].(string) // int64 is a JSON string in protojson
		var f float64
		for _, c := range n {
			f = f*10 + float64(c-'0')
		}
		out = append(out, f)
	}
	return out
}

func equalCounts(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
