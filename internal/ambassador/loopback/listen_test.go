package loopback

import (
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func addrs(lns []net.Listener) []string {
	var out []string
	for _, ln := range lns {
		out = append(out, ln.Addr().String())
	}
	return out
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

func TestListenOpensTheIPv6TwinAtTheSamePort(t *testing.T) {
	if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	} else {
		ln.Close()
	}
	lns, err := Listen("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(lns)
	if len(lns) != 2 {
		t.Fatalf("listeners %v, want 127.0.0.1 and [::1]", addrs(lns))
	}
	port := strconv.Itoa(lns[0].Addr().(*net.TCPAddr).Port)
	if got := addrs(lns); got[0] != "127.0.0.1:"+port || got[1] != "[::1]:"+port {
		t.Errorf("listeners %v, want the same port on both loopbacks", got)
	}
}

func TestListenOnIPv6LoopbackOpensOne(t *testing.T) {
	lns, err := Listen("[::1]:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer closeAll(lns)
	if len(lns) != 1 {
		t.Errorf("Listen([::1]:0) = %v, want one listener", addrs(lns))
	}
}

func TestListenInUseNamesTheAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	_, err = Listen(addr, slog.New(slog.DiscardHandler))
	var le *Error
	if !errors.As(err, &le) || le.Addr != addr || !errors.Is(err, syscall.EADDRINUSE) ||
		!strings.HasPrefix(err.Error(), "cannot listen on "+addr+": ") {
		t.Fatalf("Listen(%s) = %v, want an *Error naming it, with EADDRINUSE", addr, err)
	}
}
