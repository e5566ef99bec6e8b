package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestSnapshotRestoreOnline: "kmsctl cluster snapshot save FILE" on a
// follower, then changes, then "kmsctl cluster snapshot restore FILE"
// through a follower (kmsctl follows NotLeaderException to the leader):
// every member serves the backed-up state at once (keys, states, aliases;
// what was made after the backup is gone), every ciphertext made before
// decrypts on every member, the members' state and audit logs are the
// same, the log verifies and records the restore, and a member restarted
// afterwards keeps the restored state. An altered or foreign backup is
// refused and changes nothing.
func TestSnapshotRestoreOnline(t *testing.T) {
	base := t.TempDir()
	ds := startClusterWith(t, base, 3, nil)
	ctx := context.Background()
	var keys []string
	for i := range 4 {
		keys = append(keys, str(ds[i%3].ok("create-key", "--description", fmt.Sprint("before ", i)), "KeyMetadata.KeyId"))
	}
	ds[0].ok("create-alias", "--alias-name", "alias/before", "--target-key-id", keys[1])
	type pair struct{ plain, blob []byte }
	var pairs []pair
	for i := range 60 {
		p := make([]byte, 24)
		rand.Read(p)
		enc, err := ds[i%3].client().Encrypt(ctx, &kmsv1.EncryptRequest{KeyId: keys[i%len(keys)], Plaintext: p})
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, pair{p, enc.GetCiphertextBlob()})
	}
	leader := leaderOf(t, ds)
	follower := without(ds, leader)[0]
	backup := filepath.Join(base, "snap.backup")
	if r := follower.ctl(nil, "cluster", "snapshot", "save", backup); r.code != 0 {
		t.Fatalf("snapshot save: %d %s", r.code, r.stderr)
	}

	// Changes after the backup.
	after := str(ds[2].ok("create-key", "--description", "after"), "KeyMetadata.KeyId")
	ds[1].ok("disable-key", "--key-id", keys[0])
	ds[0].ok("delete-alias", "--alias-name", "alias/before")
	ds[2].ok("create-alias", "--alias-name", "alias/after", "--target-key-id", after)

	// Refused files change nothing.
	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	altered := filepath.Join(base, "altered.backup")
	bad := bytes.Clone(raw)
	bad[len(bad)*2/3] ^= 0x08
	foreign := filepath.Join(base, "foreign.backup")
	if err := os.WriteFile(altered, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(foreign, append([]byte("KMSDBKP2"), make([]byte, 4096)...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{altered, foreign} {
		leader.fails("ValidationException", "cluster", "snapshot", "restore", f)
	}
	for _, d := range ds {
		if st := str(d.ok("describe-key", "--key-id", after), "KeyMetadata.KeyState"); st != "Enabled" {
			t.Fatalf("after a refused restore, the key made after the backup is %q on %s", st, d.grpcAddr)
		}
	}

	// A follower names the leader rather than restoring.
	stream, err := kmsv1.NewClusterServiceClient(follower.grpcConn()).Restore(ctx)
	if err != nil {
		t.Fatal(err)
	}
	stream.Send(&kmsv1.RestoreChunk{Data: raw})
	_, err = stream.CloseAndRecv()
	if st, _ := status.FromError(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), leader.grpcAddr) {
		t.Fatalf("Restore on a follower: %v; want FailedPrecondition naming %s", err, leader.grpcAddr)
	}

	r := follower.ctl(nil, "cluster", "snapshot", "restore", backup)
	if r.code != 0 {
		t.Fatalf("snapshot restore through a follower: %d %s", r.code, r.stderr)
	}
	var out map[string]any
	if err := jsonUnmarshal(r.stdout, &out); err != nil || str(out, "BackupNodeId") == "" || str(out, "AppliedIndex") == "" {
		t.Fatalf("restore output: %v %s", err, r.stdout)
	}
	t.Logf("restore: %s", r.stdout)

	check := func(when string) {
		t.Helper()
		for _, d := range ds {
			var got []string
			for _, k := range d.ok("list-keys")["Keys"].([]any) {
				got = append(got, k.(map[string]any)["KeyId"].(string))
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(keys))
			if !slices.Equal(got, want) {
				t.Fatalf("%s: %s lists keys %v, want the backup's %v", when, d.grpcAddr, got, want)
			}
			if st := str(d.ok("describe-key", "--key-id", keys[0]), "KeyMetadata.KeyState"); st != "Enabled" {
				t.Fatalf("%s: key disabled after the backup is %q on %s", when, st, d.grpcAddr)
			}
			if id := str(d.ok("describe-key", "--key-id", "alias/before"), "KeyMetadata.KeyId"); id != keys[1] {
				t.Fatalf("%s: alias/before names %q on %s", when, id, d.grpcAddr)
			}
			d.fails("NotFoundException", "describe-key", "--key-id", after)
			d.fails("NotFoundException", "describe-key", "--key-id", "alias/after")
			for i, p := range pairs {
				dec, err := d.client().Decrypt(ctx, &kmsv1.DecryptRequest{CiphertextBlob: p.blob})
				if err != nil || !bytes.Equal(dec.GetPlaintext(), p.plain) {
					t.Fatalf("%s: ciphertext %d on %s: %v", when, i, d.grpcAddr, err)
				}
			}
		}
		checkInvariants(t, ds)
	}
	check("right after the restore")
	for _, d := range ds {
		if r := d.ctl(nil, "audit", "verify"); r.code != 0 {
			t.Fatalf("audit verify on %s: %d %s %s", d.grpcAddr, r.code, r.stdout, r.stderr)
		}
	}
	events := leader.ok("audit", "lookup", "--event-name", "Restore")["Events"].([]any)
	// The refused restores were recorded before the accepted one replaced
	// the log; what is left is the accepted one.
	if len(events) != 1 || field(events[0].(map[string]any), "errorCode") != nil {
		t.Fatalf("Restore records after the restore: %v", events)
	}

	// A member restarted afterwards comes back with the restored state.
	follower.stop()
	follower.start()
	check("after a member restarted")
}

// A member that was down while a restore was installed comes back with
// the restored state: it does not serve its older state (in which a key
// made after the backup exists) as current, because the restored state's
// applied index is above everything it applied before.
func TestSnapshotRestoreWhileAMemberIsDown(t *testing.T) {
	base := t.TempDir()
	ds := startClusterWith(t, base, 3, nil)
	before := str(ds[0].ok("create-key", "--description", "before"), "KeyMetadata.KeyId")
	leader := leaderOf(t, ds)
	backup := filepath.Join(base, "snap.backup")
	if r := leader.ctl(nil, "cluster", "snapshot", "save", backup); r.code != 0 {
		t.Fatalf("snapshot save: %s", r.stderr)
	}
	after := str(leader.ok("create-key", "--description", "after"), "KeyMetadata.KeyId")
	for _, d := range ds {
		d.ok("describe-key", "--key-id", after)
	}
	down := without(ds, leader)[1]
	down.stop()
	if r := leader.ctl(nil, "cluster", "snapshot", "restore", backup); r.code != 0 {
		t.Fatalf("restore with a member down: %s", r.stderr)
	}
	down.launch()
	// From the moment it answers, it must not show the key made after
	// the backup: it waits (or refuses) until it holds the restored state.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := down.ctl(nil, "describe-key", "--key-id", after)
		if r.code == 0 {
			t.Fatalf("the member that was down served its pre-restore state: %s", r.stdout)
		}
		if strings.Contains(r.stderr, "(NotFoundException)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the member that was down never answered: %s", r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	down.ok("describe-key", "--key-id", before)
	checkInvariants(t, ds)
}

// A backup of one cluster restores into another that has the same root
// key (a new cluster, say, after the first was lost): the state is the
// backup's, the audit log is the backup's and verifies, with heads signed
// from then on by the backup's log key, and the Restore record names the
// size and root of the log it replaced.
func TestSnapshotRestoreIntoAnotherCluster(t *testing.T) {
	base := t.TempDir()
	a := startClusterWith(t, base, 1, nil)[0]
	key := str(a.ok("create-key", "--description", "from a"), "KeyMetadata.KeyId")
	blob := str(a.ok("encrypt", "--key-id", key, "--plaintext", "aGVsbG8="), "CiphertextBlob")
	aKey := str(a.ok("audit", "public-key"), "PublicKey") // made now if not yet
	backup := filepath.Join(base, "a.backup")
	if r := a.ctl(nil, "cluster", "snapshot", "save", backup); r.code != 0 {
		t.Fatalf("snapshot save: %s", r.stderr)
	}
	a.stop()

	// Cluster b: the same root key, its own members, keys and log key.
	b := &daemon{t: t, dataDir: filepath.Join(base, "b"), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
	b.args = []string{"--node-id", "b0", "--bootstrap", "--data-dir", b.dataDir, "--root-key-file", filepath.Join(base, "root.key"),
		"--grpc-addr", b.grpcAddr, "--http-addr", b.httpAddr, "--raft-addr", freeAddr(t), "--raft-timeout", "300ms"}
	b.start()
	other := str(b.ok("create-key", "--description", "from b"), "KeyMetadata.KeyId")
	if got := str(b.ok("audit", "public-key"), "PublicKey"); got == aKey || got == "" {
		t.Fatalf("cluster b's log key %q is cluster a's", got)
	}
	if r := b.ctl(nil, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify on b before: %s %s", r.stdout, r.stderr)
	}
	var st map[string]any
	if err := jsonUnmarshal(b.ctl(nil, "cluster", "status").stdout, &st); err != nil {
		t.Fatal(err)
	}
	out := b.ok("cluster", "snapshot", "restore", backup)
	if str(out, "ReplacedAuditSize") == "" || len(str(out, "ReplacedAuditRoot")) != 64 {
		t.Fatalf("restore output lacks the replaced log's head: %v", out)
	}
	b.fails("NotFoundException", "describe-key", "--key-id", other)
	if pt := str(b.ok("decrypt", "--ciphertext-blob", blob), "Plaintext"); pt != "aGVsbG8=" {
		t.Fatalf("decrypt on b after the restore: %q", pt)
	}
	if got := str(b.ok("audit", "public-key"), "PublicKey"); got != aKey {
		t.Fatalf("log key after the restore %q, want the backup's %q", got, aKey)
	}
	b.ok("create-key", "--description", "after the restore")
	if r := b.ctl(nil, "audit", "verify"); r.code != 0 {
		t.Fatalf("audit verify on b after the restore: %s %s", r.stdout, r.stderr)
	}
	var rec map[string]any
	events := b.ok("audit", "lookup", "--event-name", "Restore")["Events"].([]any)
	if len(events) != 1 {
		t.Fatalf("%d Restore records", len(events))
	}
	rec = events[0].(map[string]any)
	if field(rec, "responseElements.replacedAuditRoot") != str(out, "ReplacedAuditRoot") {
		t.Fatalf("the Restore record does not name the replaced log: %v", rec["responseElements"])
	}
	// The member table is b's: b still knows its own address.
	if err := jsonUnmarshal(b.ctl(nil, "cluster", "status").stdout, &st); err != nil || str(st, "LeaderId") != "b0" {
		t.Fatalf("status after the restore: %v %v", err, st)
	}
}
