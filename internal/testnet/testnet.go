// Package testnet holds the small helpers that network tests across meshlite
// share: loopback listeners, free and dead loopback addresses, a
// goroutine-safe buffer for captured output, and the check that namespace
// tests may run. It is imported by tests only.
package testnet

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Listen listens on a free loopback port; the listener is closed when the
// test ends, if not before.
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	ln := Listen(t)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// DeadAddr returns a loopback "host:port" that refuses connections: it was
// listened on and closed.
func DeadAddr(t testing.TB) string {
	t.Helper()
	ln := Listen(t)
	ln.Close()
	return ln.Addr().String()
}

// Buffer is a goroutine-safe sink for logs and audit lines.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// commandPackage names the Debian package that provides each command the
// namespace tests need, for the message when one is missing.
var commandPackage = map[string]string{
	"ip":      "iproute2",
	"nft":     "nftables",
	"setpriv": "util-linux",
	"prlimit": "util-linux",
}

// RequireNetns skips the test unless it runs as root and every named
// command is on PATH: namespace tests build network namespaces. Under CI
// (CI=true) it fails instead, so a missing install step cannot pass as a
// green run of tests that never ran.
func RequireNetns(t testing.TB, commands ...string) {
	t.Helper()
	missing := ""
	if os.Geteuid() != 0 {
		missing = "creating a network namespace needs root (CI runs the tests as root)"
	}
	for _, c := range commands {
		if missing != "" {
			break
		}
		if _, err := exec.LookPath(c); err != nil {
			missing = fmt.Sprintf("the %s command is missing (scripts/test-deps.sh installs %s)", c, commandPackage[c])
		}
	}
	if missing == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("netns: %s; CI=true, so this fails instead of skipping", missing)
	}
	t.Skipf("netns: skipped, %s", missing)
}

// ListenUDPAndTCP listens on one free loopback port with both UDP and TCP,
// as a name server does. The UDP port the system picks may already be
// taken for TCP by another process: then it tries another, a bounded
// number of times. Both are closed when the test ends, if not before.
func ListenUDPAndTCP(t testing.TB) (net.PacketConn, net.Listener) {
	t.Helper()
	var last error
	for range 50 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			last = err
			continue
		}
		t.Cleanup(func() { pc.Close(); ln.Close() })
		return pc, ln
	}
	t.Fatalf("no loopback port free for both UDP and TCP after 50 tries: %v", last)
	return nil, nil
}

// MetricSum sums every series of the named metric (all label sets) in a
// Prometheus text exposition; 0 when there is none.
func MetricSum(exposition, name string) float64 {
	var sum float64
	for l := range strings.SplitSeq(exposition, "\n") {
		rest, ok := strings.CutPrefix(l, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		f := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			sum += v
		}
	}
	return sum
}
