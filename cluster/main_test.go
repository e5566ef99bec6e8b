package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that Shutdown stops every goroutine raft, the transport
// and Badger started, and that no wait on a raft future is left behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
