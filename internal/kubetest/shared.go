package kubetest

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// shared is the test binary's one cluster, started by the first Shared call.
var shared struct {
	mu      sync.Mutex
	inMain  bool // Main is running the tests and will stop the cluster
	started bool
	c       *Cluster
	err     error
}

// Main is a TestMain for packages that use Shared: it runs the tests, stops
// the shared cluster if one was started, and fails the run if a goroutine
// outlives the tests. It returns the exit code for os.Exit:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()

	code := m.Run()

	shared.mu.Lock()
	if shared.c != nil {
		shared.c.stop()
		shared.c = nil
	}
	shared.mu.Unlock()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// Shared returns the test binary's cluster, starting it on the first call;
// Main stops it after the last test. If the start failed, every caller
// fails with the same error. It skips the test when the binaries are
// missing (fails it under CI=true). The package's TestMain must call Main.
func Shared(t testing.TB) *Cluster {
	t.Helper()
	bins := requireBinaries(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.inMain {
		t.Fatal("kubetest: Shared needs the package's TestMain to run kubetest.Main, which stops the cluster")
	}
	if !shared.started {
		shared.started = true
		began := time.Now()
		shared.c, shared.err = start(bins)
		if shared.err == nil {
			t.Logf("kubetest: shared cluster at %s ready in %s", shared.c.config.Host, time.Since(began).Round(time.Millisecond))
		}
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.c
}
