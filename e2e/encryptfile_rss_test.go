package e2e

import (
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestEncryptFileMemoryFlat: kmsctl's peak memory (max RSS) when it
// encrypts and decrypts a 128 MiB file is within a few MiB of its peak for
// an 8 MiB file: the file is streamed, never held whole.
func TestEncryptFileMemoryFlat(t *testing.T) {
	d := startDaemon(t)
	key := str(d.ok("create-key"), "KeyMetadata.KeyId")
	dir := t.TempDir()
	peak := func(size int64) (enc, dec int64) {
		in := filepath.Join(dir, "in")
		f, err := os.Create(in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.CopyN(f, rand.Reader, size); err != nil {
			t.Fatal(err)
		}
		f.Close()
		sealed, out := filepath.Join(dir, "sealed"), filepath.Join(dir, "out")
		enc = maxRSS(t, d, "encrypt-file", "--key-id", key, "--in", in, "--out", sealed)
		dec = maxRSS(t, d, "decrypt-file", "--in", sealed, "--out", out)
		if fi, err := os.Stat(out); err != nil || fi.Size() != size {
			t.Fatalf("decrypted %v, %v; want %d bytes", fi, err, size)
		}
		for _, p := range []string{in, sealed, out} {
			os.Remove(p)
		}
		return enc, dec
	}
	encSmall, decSmall := peak(8 << 20)
	encLarge, decLarge := peak(128 << 20)
	t.Logf("max RSS: encrypt-file %d KiB (8 MiB) / %d KiB (128 MiB); decrypt-file %d KiB / %d KiB", encSmall, encLarge, decSmall, decLarge)
	const slack = 8 << 10 // KiB
	if encLarge > encSmall+slack || decLarge > decSmall+slack {
		t.Fatalf("kmsctl's memory grows with the file: encrypt %d -> %d KiB, decrypt %d -> %d KiB", encSmall, encLarge, decSmall, decLarge)
	}
}

// maxRSS runs kmsctl and returns its peak resident memory in KiB.
func maxRSS(t *testing.T, d *daemon, args ...string) int64 {
	t.Helper()
	cmd := exec.Command(kmsctlBin, args...)
	cmd.Env = append(append(os.Environ(), "KMS_ENDPOINT="+d.grpcAddr), d.credentialEnv()...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kmsctl %v: %v\n%s", args, err, out)
	}
	return cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}
