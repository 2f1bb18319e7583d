package upstream

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/meshlite/meshlite/pkg/routes"
)

// The cases of tunnel_linux_test.go, for the Client.

func TestClientDialTunnelOverallDeadline(t *testing.T) {
	hole := blackholeAddr(t, "127.0.0.1", 0)
	// Each address alone may take 10s; the tunnel as a whole has 300ms.
	cl := newTestClient(t, Options{DialTimeout: 10 * time.Second, DefaultTimeout: 300 * time.Millisecond})
	tg := targetFor("svc.test", Retry{}, hole, hole, hole)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conn, err := cl.DialTunnel(ctx, tg)
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
	if got := counterValue(t, cl.metrics.tries.WithLabelValues("r", resultTimeout)); got != 1 {
		t.Errorf("tries_total{result=timeout} = %v, want 1", got)
	}
}

func TestClientDialTunnelPerAddressTimeoutFallsThrough(t *testing.T) {
	hole := blackholeAddr(t, "127.0.0.1", 0)
	l := listenOn(t, "127.0.0.2", hole.Port())
	echoServer(t, l)
	cl := newTestClient(t, Options{DialTimeout: 200 * time.Millisecond, DefaultTimeout: guard})
	tg := targetFor("svc.test", Retry{}, hole, addrPort(t, l))
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conn, err := cl.DialTunnel(ctx, tg)
	if err != nil {
		t.Fatalf("DialTunnel: %v", err)
	}
	conn.Close()
	if tg.Attempts != 2 || tg.Upstream != addrPort(t, l).String() {
		t.Errorf("Attempts = %d, Upstream = %q; want 2, %s", tg.Attempts, tg.Upstream, addrPort(t, l))
	}
}

// TestClientDoDialTimeoutFallsBack: in a call, each address gets the whole
// DialTimeout within the per-try and call timeouts; one that times out is
// a connect failure followed by the next address; a per-try timeout that
// fires during a dial ends the attempt.
func TestClientDoDialTimeoutFallsBack(t *testing.T) {
	hole := blackholeAddr(t, "127.0.0.1", 0)
	l := listenOn(t, "127.0.0.2", hole.Port())
	rec := &recorder{script: statuses(200)}
	newServerOn(t, l, rec)
	tests := []struct {
		name         string
		dial         time.Duration
		retry        Retry
		wantStatus   int
		wantAttempts int
		wantErr      *TimeoutError
	}{
		{"dial timeout falls back", 200 * time.Millisecond, Retry{}, 200, 2, nil},
		{"per-try timeout during the dial ends the attempt", 10 * time.Second,
			Retry{PerTryTimeout: 200 * time.Millisecond, On: routes.RetryOn{ConnectFailure: true}}, 0, 1,
			&TimeoutError{Timeout: 200 * time.Millisecond, PerTry: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newTestClient(t, Options{DialTimeout: tt.dial})
			tg := targetFor("svc.test", tt.retry, hole, addrPort(t, l))
			res, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg)
			if tt.wantErr != nil {
				var te *TimeoutError
				if !errors.As(err, &te) || *te != *tt.wantErr {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || res.status != tt.wantStatus {
				t.Fatalf("got %+v, %v; want %d", res, err, tt.wantStatus)
			}
			if tg.Attempts != tt.wantAttempts {
				t.Errorf("Attempts = %d, want %d", tg.Attempts, tt.wantAttempts)
			}
		})
	}
}

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
