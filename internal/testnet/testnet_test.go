package testnet

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddrNeverRepeats: 300 addresses, all distinct, bindable, and
// below the ephemeral range where the kernel says where it starts.
func TestFreeAddrNeverRepeats(t *testing.T) {
	seen := map[string]bool{}
	for range 300 {
		a := FreeAddr(t)
		if seen[a] {
			t.Fatalf("%s handed out twice", a)
		}
		seen[a] = true
		_, port, err := net.SplitHostPort(a)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := strconv.Atoi(port); p < 10000 {
			t.Fatalf("port %d below 10000", p)
		}
	}
	l, err := net.Listen("tcp", FreeAddr(t))
	if err != nil {
		t.Fatalf("a free address does not bind: %v", err)
	}
	l.Close()
}
