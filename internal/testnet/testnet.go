// Package testnet picks loopback addresses for tests that start servers:
// ports below the kernel's range of ephemeral ports (so that no outgoing
// connection takes one between the pick and the bind), never the same one
// twice in a test process.
package testnet

import (
	"crypto/rand"
	"fmt"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	taken = map[int]bool{}
)

// FreeAddr returns "127.0.0.1:PORT" with a port that was free a moment ago
// and that no earlier call in this process returned.
func FreeAddr(t testing.TB) string {
	t.Helper()
	first := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				first = n
			}
		}
	}
	for range 100 {
		port := 0
		if first > 11000 {
			n, err := rand.Int(rand.Reader, big.NewInt(int64(first-10000)))
			if err != nil {
				t.Fatal(err)
			}
			port = 10000 + int(n.Int64())
			if !take(port) {
				continue // handed out already in this process, perhaps not bound yet
			}
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			defer l.Close()
			return l.Addr().String()
		}
	}
	t.Fatal("no free port")
	return ""
}

func take(port int) bool {
	mu.Lock()
	defer mu.Unlock()
	if taken[port] {
		return false
	}
	taken[port] = true
	return true
}
