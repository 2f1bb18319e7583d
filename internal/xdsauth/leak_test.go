package xdsauth

import (
	"os"
	"testing"

	"github.com/meshlite/meshlite/internal/kubetest"
)

// TestMain stops the shared Kubernetes cluster after the tests and fails
// the run if a goroutine outlives them.
func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
