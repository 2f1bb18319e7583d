package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"
)

// blackholeAddr returns an address on ip whose connects hang: a listener
// with a backlog of 0 that never accepts, its accept queue filled, so the
// kernel drops further SYNs as a blackholed route would. port 0 picks one.
func blackholeAddr(t *testing.T, ip string, port uint16) netip.AddrPort {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	sa := &syscall.SockaddrInet4{Port: int(port), Addr: netip.MustParseAddr(ip).As4()}
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatalf("bind %s:%d: %v", ip, port, err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	bound, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	ep := netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(bound.(*syscall.SockaddrInet4).Port))
	for range 8 { // the queue holds backlog+1 connections; the rest hang
		c, err := net.DialTimeout("tcp", ep.String(), 200*time.Millisecond)
		if err != nil {
			return ep
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Fatalf("%s kept accepting connections; cannot make a blackhole", ep)
	return ep
}

func TestDialTunnelOverallDeadline(t *testing.T) {
	hole := blackholeAddr(t, "127.0.0.1", 0)
	// Each address alone may take 10s; the tunnel as a whole has 300ms.
	tr := newTestTransport(t, Options{DialTimeout: 10 * time.Second, DefaultTimeout: 300 * time.Millisecond})
	tg := targetFor("svc.test", Retry{}, hole, hole, hole)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conn, err := tr.DialTunnel(ctx, tg)
	if err == nil {
		conn.Close()
		t.Fatal("DialTunnel connected to a blackhole")
	}
	var te *TimeoutError
	if !errors.As(err, &te) || te.Timeout != 300*time.Millisecond {
		t.Fatalf("err = %v, want *TimeoutError of 300ms", err)
	}
	if tg.Attempts != 1 || tg.Upstream != hole.String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 1, %s (the deadline passed during the first dial)", tg.Attempts, tg.Upstream, hole)
	}
	if got := counterValue(t, tr.metrics.tries.WithLabelValues("r", resultTimeout)); got != 1 {
		t.Errorf("tries_total{result=timeout} = %v, want 1", got)
	}
}

func TestDialTunnelPerAddressTimeoutFallsThrough(t *testing.T) {
	hole := blackholeAddr(t, "127.0.0.1", 0)
	l := listenOn(t, "127.0.0.2", hole.Port())
	echoServer(t, l)
	tr := newTestTransport(t, Options{DialTimeout: 200 * time.Millisecond, DefaultTimeout: guard})
	tg := targetFor("svc.test", Retry{}, hole, addrPort(t, l))
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conn, err := tr.DialTunnel(ctx, tg)
	if err != nil {
		t.Fatalf("DialTunnel: %v", err)
	}
	conn.Close()
	if tg.Attempts != 2 || tg.Upstream != addrPort(t, l).String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 2, %s", tg.Attempts, tg.Upstream, addrPort(t, l))
	}
}
