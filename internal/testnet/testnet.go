// Package testnet holds the small helpers that network tests across meshlite
// share: loopback listeners, free and dead loopback addresses, and a
// goroutine-safe buffer for captured output. It is imported by tests only.
package testnet

import (
	"net"
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
