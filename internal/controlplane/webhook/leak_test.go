package webhook

import (
	"os"
	"testing"

	"github.com/meshlite/meshlite/internal/kubetest"
)

// TestMain runs the tests with the shared API server (stopped after the
// last test) and fails them if any goroutine outlives them: every server,
// stream, watcher and writer a test starts must be stopped by it.
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
