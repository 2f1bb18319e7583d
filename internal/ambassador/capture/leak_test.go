package capture_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them (the
// namespace tests run netlink connections and commands).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
