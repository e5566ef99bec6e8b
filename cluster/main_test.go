package cluster

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that Shutdown stops every goroutine raft, the transport
// and Badger started. The one exception: raft never answers the futures of
// entries that were being applied when it shut down, so Node.wait's
// goroutines for those stay blocked in the future's Error method.
// TestShutdownDuringApply bounds their number through Stats.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/raft.(*deferError).Error"))
}
