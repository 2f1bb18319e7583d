package proxy

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/meshlite/meshlite/internal/testnet"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// server, stream, watcher and writer a test starts must be stopped by it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m, testnet.FasthttpLeaks()...) }
