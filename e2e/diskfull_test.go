package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// TestDiskFull (D4): kmsd's data directory on a small tmpfs that a test
// fills. Below the reserve (--min-free-disk, here the default 136 MiB) kmsd
// refuses every call that would write with StorageFullException, before
// the file system is full: it does not crash, and /readyz says why. Once
// space is freed it takes calls again within 10 s, and after a restart
// every acknowledged key is there.
func TestDiskFull(t *testing.T) {
	mnt := t.TempDir()
	const size = 320 << 20
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("D4 needs to mount a tmpfs (root with CAP_SYS_ADMIN): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", mnt).Run() })
	d := newDaemon(t, "--rate-limits=false") // the test writes faster than the mutation quota
	d.dataDir = filepath.Join(mnt, "data")
	d.args[2] = d.dataDir // newDaemon's args start --dev --data-dir DIR
	d.start()
	kms := d.client()
	ctx := context.Background()
	var acked []string
	create := func() error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		k, err := kms.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: strings.Repeat("d", 8000)})
		if err == nil {
			acked = append(acked, k.GetKeyMetadata().GetKeyId())
		}
		return err
	}
	for range 20 {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}

	// Fill the file system to 8 MiB above the reserve, then keep writing.
	ballast := filepath.Join(mnt, "ballast")
	if free := freeBytes(t, mnt); free > 136<<20+8<<20 {
		fill(t, ballast, free-(136<<20+8<<20))
	}
	start := time.Now()
	var refused error
	for time.Since(start) < 60*time.Second {
		if err := create(); err != nil {
			refused = err
			break
		}
	}
	if status.Code(refused) != codes.ResourceExhausted || !strings.Contains(status.Convert(refused).Message(), "nearly full") {
		t.Fatalf("writing into a filling disk ended with %v after %d keys, want StorageFullException\n%s", refused, len(acked), d.log)
	}
	free := freeBytes(t, mnt)
	t.Logf("refused after %d keys in %v, %d MiB still free", len(acked), time.Since(start).Round(time.Millisecond), free>>20)
	if free == 0 || strings.Contains(d.log.String(), "no space left") {
		t.Fatalf("the file system filled up before kmsd stopped writing\n%s", d.log)
	}
	select {
	case <-d.exited:
		t.Fatalf("kmsd exited with the disk nearly full\n%s", d.log)
	default:
	}
	for name, call := range map[string]func() error{
		"Encrypt": func() error {
			_, err := kms.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: acked[0], Plaintext: []byte("x")})
			return err
		},
		"GenerateDataKey": func() error {
			_, err := kms.GenerateDataKey(ctx, &kmsv1.GenerateDataKeyRequest{KeyId: acked[0], NumberOfBytes: 32})
			return err
		},
	} {
		if err := call(); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("%s with the disk nearly full: %v, want StorageFullException", name, err)
		}
	}
	if code, body := getURL(t, "http://"+d.httpAddr+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "nearly full") {
		t.Errorf("/readyz with the disk nearly full: %d %q", code, body)
	}

	// Space back: writes resume within 10 s.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	for create() != nil {
		if time.Since(freed) > 10*time.Second {
			t.Fatalf("writes did not resume within 10 s of freeing space\n%s", d.log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("writes resumed %v after space was freed", time.Since(freed).Round(time.Millisecond))

	// Nothing acknowledged is lost.
	d.stop()
	d.start()
	kms = d.client()
	for _, id := range acked {
		if _, err := kms.DescribeKey(ctx, &kmsv1.DescribeKeyRequest{KeyId: id}); err != nil {
			t.Fatalf("acknowledged key %s after the restart: %v", id, err)
		}
	}
}

func freeBytes(t *testing.T, dir string) uint64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Bavail * uint64(st.Bsize)
}

// fill writes n bytes to a new file.
func fill(t *testing.T, path string, n uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for n > 0 {
		k := min(n, uint64(len(buf)))
		if _, err := f.Write(buf[:k]); err != nil {
			t.Fatal(err)
		}
		n -= k
	}
}

func getURL(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}
