package testnet

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// buildWait bounds one go build of a command.
const buildWait = 5 * time.Minute

// BuildCommands builds meshlite's commands (cmd/NAME) into dir with the
// given extra go build flags and returns their paths by name.
func BuildCommands(dir string, flags []string, names ...string) (map[string]string, error) {
	bins := make(map[string]string, len(names))
	for _, name := range names {
		out := filepath.Join(dir, name)
		ctx, cancel := context.WithTimeout(context.Background(), buildWait)
		args := append(append([]string{"build"}, flags...), "-o", out, "github.com/meshlite/meshlite/cmd/"+name)
		msg, err := exec.CommandContext(ctx, "go", args...).CombinedOutput()
		cancel()
		if err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", name, err, msg)
		}
		bins[name] = out
	}
	return bins, nil
}

// BuildCommandsT is BuildCommands into a test's temporary directory; a
// failed build fails the test.
func BuildCommandsT(t testing.TB, flags []string, names ...string) map[string]string {
	t.Helper()
	bins, err := BuildCommands(t.TempDir(), flags, names...)
	if err != nil {
		t.Fatal(err)
	}
	return bins
}

// MainWithCommands is a TestMain for packages that run meshlite's binaries:
// it builds the named commands once into a temporary directory, fills bins
// with their paths, runs the tests, and fails them if a goroutine outlives
// them (every process, server and reader a test starts must be stopped by
// it). It returns the exit code for os.Exit.
func MainWithCommands(m *testing.M, bins map[string]string, names ...string) int {
	dir, err := os.MkdirTemp("", "meshlite-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	built, err := BuildCommands(dir, nil, names...)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for name, path := range built {
		bins[name] = path
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(FasthttpLeaks()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			return 1
		}
	}
	return code
}

// Eventually polls cond every interval until it holds, or fails the test
// once limit has passed.
func Eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", limit, what)
}
