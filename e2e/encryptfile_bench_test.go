package e2e

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// BenchmarkEncryptFileKmsctl runs kmsctl encrypt-file and decrypt-file on
// a 256 MiB file and, in the same iteration, two baselines over the same
// bytes: raw AES-256-GCM in 64 KiB frames in memory, and a plain copy of
// the file (read, write, fsync, rename, as the commands do). It reports
// medians over the iterations of
//
//	encrypt-file/raw, decrypt-file/raw   raw cipher time / command wall time
//	encrypt-file/copy, decrypt-file/copy copy time / command wall time
//	encrypt-cpu/raw, decrypt-cpu/raw     raw cipher time / command user CPU
//
// The wall time includes starting the process, calling kmsd and the
// kernel's file work; the user CPU is kmsctl's own work, the cipher
// almost all of it.
func BenchmarkEncryptFileKmsctl(b *testing.B) {
	const size, frame = 256 << 20, 64 << 10
	d := startDaemon(b)
	key := str(d.ok("create-key"), "KeyMetadata.KeyId")
	dir := b.TempDir()
	in, sealed, out := filepath.Join(dir, "in"), filepath.Join(dir, "sealed"), filepath.Join(dir, "out")
	f, err := os.Create(in)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		b.Fatal(err)
	}
	f.Close()
	block, _ := aes.NewCipher(make([]byte, 32))
	g, _ := cipher.NewGCM(block)
	buf := make([]byte, size+size/frame*16)
	var nonce [12]byte
	raw := func() float64 {
		t0 := time.Now()
		for i := 0; i+frame+16 <= len(buf); i += frame + 16 {
			nonce[11]++
			g.Seal(buf[i:i], nonce[:], buf[i:i+frame], nil)
		}
		return time.Since(t0).Seconds()
	}
	copyFile := func() float64 {
		t0 := time.Now()
		src, err := os.Open(in)
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		dst, err := os.CreateTemp(dir, "copy")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil || dst.Sync() != nil || dst.Close() != nil {
			b.Fatal(err)
		}
		if err := os.Rename(dst.Name(), out+".copy"); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0).Seconds()
	}
	run := func(args ...string) (wall, user float64) {
		cmd := exec.Command(kmsctlBin, args...)
		cmd.Env = append(append(os.Environ(), "KMS_ENDPOINT="+d.grpcAddr), d.credentialEnv()...)
		t0 := time.Now()
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("kmsctl %v: %v %s", args, err, o)
		}
		return time.Since(t0).Seconds(), cmd.ProcessState.UserTime().Seconds()
	}
	m := map[string][]float64{}
	b.SetBytes(size)
	for b.Loop() {
		r, c := raw(), copyFile()
		ew, eu := run("encrypt-file", "--key-id", key, "--in", in, "--out", sealed, "--overwrite")
		dw, du := run("decrypt-file", "--in", sealed, "--out", out, "--overwrite")
		for k, v := range map[string]float64{"encrypt-file/raw": r / ew, "decrypt-file/raw": r / dw,
			"encrypt-file/copy": c / ew, "decrypt-file/copy": c / dw, "encrypt-cpu/raw": r / eu, "decrypt-cpu/raw": r / du} {
			m[k] = append(m[k], v)
		}
	}
	for k, v := range m {
		slices.Sort(v)
		b.ReportMetric(v[len(v)/2], k)
	}
}
