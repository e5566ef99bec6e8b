package e2e

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kmsv1 "github.com/kmsd/kmsd/proto/kms/v1"
)

// delayProxy forwards TCP connections to target, holding back every byte
// sent towards target for delay (the other direction is not delayed): a
// slow one-way link.
func delayProxy(t *testing.T, target string, delay time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				d, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer d.Close()
				go io.Copy(c, d)
				type chunk struct {
					b  []byte
					at time.Time
				}
				ch := make(chan chunk, 4096)
				go func() {
					for ck := range ch {
						time.Sleep(time.Until(ck.at.Add(delay)))
						if _, err := d.Write(ck.b); err != nil {
							return
						}
					}
				}()
				defer close(ch)
				buf := make([]byte, 32<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						ch <- chunk{append([]byte(nil), buf[:n]...), time.Now()}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

var slowLinkDuration = flag.Duration("slow-link-duration", 8*time.Second, "how long TestSlowLink writes over the slow link (R9: 1m)")

// TestSlowLink (R9): every byte the others send to one member arrives
// 200 ms late. Under a steady stream of writes the cluster keeps its
// leader (at most one change per 10 s), loses no acknowledged write, and
// the slow member converges.
func TestSlowLink(t *testing.T) {
	base := t.TempDir()
	rootKey := filepath.Join(base, "root.key")
	mustKmsd(t, "init", "--root-key-file", rootKey)
	var ds []*daemon
	var peers []string
	for i := range 3 {
		id := fmt.Sprintf("n%d", i)
		d := &daemon{t: t, dataDir: filepath.Join(base, id), grpcAddr: freeAddr(t), httpAddr: freeAddr(t)}
		raftAddr := freeAddr(t)
		d.args = []string{"--node-id", id, "--data-dir", d.dataDir, "--root-key-file", rootKey, "--grpc-addr", d.grpcAddr,
			"--http-addr", d.httpAddr, "--raft-addr", raftAddr, "--raft-timeout", "300ms"}
		advertised := raftAddr
		if i == 2 {
			advertised = delayProxy(t, raftAddr, 200*time.Millisecond)
		}
		peers = append(peers, fmt.Sprintf("%s=%s/%s", id, advertised, d.grpcAddr))
		ds = append(ds, d)
	}
	for _, d := range ds {
		d.args = append(d.args, "--peers", strings.Join(peers, ","))
		d.launch()
	}
	for _, d := range ds {
		if err := d.waitReady(30 * time.Second); err != nil {
			t.Fatalf("member did not become ready: %v\n%s", err, d.log)
		}
	}

	leaderNow := func() string {
		resp, err := http.Get("http://" + ds[0].httpAddr + "/readyz")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		id, _ := strings.CutPrefix(strings.TrimSpace(string(b)), "ready; leader ")
		return id
	}
	run := *slowLinkDuration
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			c := ds[w%3].client()
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				k, err := c.CreateKey(ctx, &kmsv1.CreateKeyRequest{Description: "over a slow link"})
				cancel()
				if err == nil {
					mu.Lock()
					acked = append(acked, k.GetKeyMetadata().GetKeyId())
					mu.Unlock()
				}
			}
		})
	}
	changes, last := 0, leaderNow()
	for end := time.Now().Add(run); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if l := leaderNow(); l != "" && l != last {
			changes++
			t.Logf("leader %s -> %s", last, l)
			last = l
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("%v with a 200 ms one-way delay to n2: %d leader changes, %d writes acknowledged", run, changes, len(acked))
	if changes > max(1, int(run/(10*time.Second))) {
		t.Errorf("%d leader changes in %v, want at most one per 10 s", changes, run)
	}
	checkInvariants(t, ds)
	for _, d := range ds {
		have := listKeyIDs(t, d)
		for _, id := range acked {
			if !have[id] {
				t.Fatalf("acknowledged key %s missing on %s", id, d.grpcAddr)
			}
		}
	}
}

// listKeyIDs returns every key id a member lists.
func listKeyIDs(t *testing.T, d *daemon) map[string]bool {
	t.Helper()
	c := d.client()
	ids := map[string]bool{}
	marker := ""
	for {
		resp, err := c.ListKeys(context.Background(), &kmsv1.ListKeysRequest{Limit: 1000, Marker: marker})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range resp.GetKeys() {
			ids[k.GetKeyId()] = true
		}
		if !resp.GetTruncated() {
			return ids
		}
		marker = resp.GetNextMarker()
	}
}
