package keystore

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that closing a store stops all of Badger's goroutines.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
