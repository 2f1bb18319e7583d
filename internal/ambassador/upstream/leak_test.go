package upstream

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// server, stream, watcher and writer a test starts must be stopped by it.
// A fasthttp pool's cleaner sleeps until its connections' idle timeout
// before it sees that they are gone and ends, one per pool at most, so it
// is not counted.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"))
}
