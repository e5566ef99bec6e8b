package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

var backupCiphertexts = flag.Int("backup-ciphertexts", 2000, "ciphertexts made before the backup in TestBackupAndRestore (D6: 10000)")

// TestBackupAndRestore (D6): a backup taken with "kmsctl cluster backup"
// while the cluster serves restores with "kmsd restore" into a new data
// directory; the new cluster decrypts every ciphertext made before
// (10,000 in the soak tier), grows by a joining member, and its audit log still verifies.
// Without the root key that made it the backup yields nothing: restore
// refuses another root key and an altered file, and no plaintext is in
// the file.
func TestBackupAndRestore(t *testing.T) {
	base := t.TempDir()
	ds := startClusterWith(t, base, 3, nil)
	ctx := context.Background()
	var keys []string
	for i := range 10 {
		k, err := ds[i%3].client().CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: fmt.Sprint("backed up ", i)})
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.GetKeyMetadata().GetKeyId())
	}
	if _, err := ds[0].client().CreateAlias(ctx, &kmsv1.CreateAliasRequest{AliasName: "alias/backed-up", TargetKeyId: keys[0]}); err != nil {
		t.Fatal(err)
	}
	n := *backupCiphertexts
	type pair struct{ plain, blob []byte }
	pairs := make([]pair, n)
	var wg sync.WaitGroup
	var failed sync.Once
	for w := range 16 {
		c := ds[w%3].client()
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				p := make([]byte, 32)
				rand.Read(p)
				enc, err := c.Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[i%len(keys)], Plaintext: p})
				if err != nil {
					failed.Do(func() { t.Errorf("encrypt %d: %v", i, err) })
					return
				}
				pairs[i] = pair{p, enc.GetCiphertextBlob()}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	backup := filepath.Join(base, "kmsd.backup")
	r := ds[1].ctl(nil, "cluster", "backup", "--outfile", backup)
	if r.code != 0 {
		t.Fatalf("cluster backup: %d %s", r.code, r.stderr)
	}
	fi, err := os.Stat(backup)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", fi, err)
	}
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	for _, p := range pairs {
		if bytes.Contains(raw, p.plain) {
			hits++
		}
	}
	if hits != 0 {
		t.Fatalf("%d plaintexts found in the backup file", hits)
	}

	rootKey := filepath.Join(base, "root.key")
	otherKey := filepath.Join(base, "other.key")
	mustKmsd(t, "init", "--root-key-file", otherKey)
	altered := filepath.Join(base, "altered.backup")
	bad := bytes.Clone(raw)
	bad[len(bad)/2] ^= 0x40
	if err := os.WriteFile(altered, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"another root key": {"--backup", backup, "--root-key-file", otherKey},
		"an altered file":  {"--backup", altered, "--root-key-file", rootKey},
	} {
		dir := filepath.Join(base, "refused-"+strings.ReplaceAll(name, " ", "-"))
		out, code := runKmsd(t, append([]string{"restore", "--data-dir", dir}, args...)...)
		if code == 0 || !strings.Contains(out, "not a kmsd backup made with this root key") {
			t.Errorf("restore with %s: exit %d %s", name, code, out)
		}
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("restore with %s left %s behind", name, dir)
		}
	}

	// A new cluster from the backup.
	for _, d := range ds {
		d.stop()
	}
	r0 := &daemon{t: t, dataDir: filepath.Join(base, "restored"), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
	raftAddr := freeAddr(t)
	mustKmsd(t, "restore", "--backup", backup, "--root-key-file", rootKey, "--data-dir", r0.dataDir, "--node-id", "r0", "--raft-addr", raftAddr)
	r0.args = []string{"--node-id", "r0", "--data-dir", r0.dataDir, "--root-key-file", rootKey, "--grpc-addr", r0.grpcAddr,
		"--http-addr", r0.httpAddr, "--raft-addr", raftAddr, "--raft-timeout", "300ms"}
	r0.start()
	r1 := &daemon{t: t, dataDir: filepath.Join(base, "restored-1"), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
	r1.args = []string{"--node-id", "r1", "--data-dir", r1.dataDir, "--root-key-file", rootKey, "--grpc-addr", r1.grpcAddr,
		"--http-addr", r1.httpAddr, "--raft-addr", freeAddr(t), "--raft-timeout", "300ms", "--join", r0.grpcAddr}
	r1.start()

	decrypted := 0
	var mu sync.Mutex
	for w := range 16 {
		c := []*daemon{r0, r1}[w%2].client()
		wg.Go(func() {
			for i := w; i < n; i += 16 {
				dec, err := c.Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: pairs[i].blob})
				if err == nil && bytes.Equal(dec.GetPlaintext(), pairs[i].plain) {
					mu.Lock()
					decrypted++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d ciphertexts made before the backup decrypt on the restored cluster", decrypted, n)
	if decrypted != n {
		t.Fatalf("%d of %d ciphertexts decrypt after the restore", decrypted, n)
	}
	if got := str(r1.ok("describe-key", "--key-id", "alias/backed-up"), "KeyMetadata.KeyId"); got != keys[0] {
		t.Fatalf("alias after the restore: %q", got)
	}
	if r := r0.ctl(nil, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify on the restored cluster: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// The restored data directory opens only with its root key.
	r0.stop()
	out, code := runKmsd(t, "--node-id", "r0", "--data-dir", r0.dataDir, "--root-key-file", otherKey,
		"--grpc-addr", freeAddr(t), "--http-addr", freeAddr(t), "--raft-addr", freeAddr(t))
	if code == 0 || !strings.Contains(out, "root key does not match") {
		t.Fatalf("the restored data dir with another root key: exit %d %s", code, out)
	}
}
