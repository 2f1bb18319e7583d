package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// echoServer echoes every connection accepted on l.
func echoServer(t testing.TB, l net.Listener) {
	t.Helper()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { l.Close() })
}

func TestDialTunnel(t *testing.T) {
	l := listenOn(t, "127.0.0.1", 0)
	echoServer(t, l)
	live := addrPort(t, l)
	dead := deadUpstreamAddr(t, live.Port())
	tr := newTestTransport(t, Options{})
	tg := targetFor("svc.test", Retry{}, dead, live)

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	conn, err := tr.DialTunnel(ctx, tg)
	if err != nil {
		t.Fatalf("DialTunnel: %v", err)
	}
	defer conn.Close()
	if tg.Upstream != live.String() || tg.Attempts != 2 {
		t.Errorf("Upstream = %q, Attempts = %d; want %s, 2", tg.Upstream, tg.Attempts, live)
	}
	conn.SetDeadline(time.Now().Add(guard))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v; want ping", buf, err)
	}
	if got := counterValue(t, tr.metrics.tries.WithLabelValues("r", resultConnectFailure)); got != 1 {
		t.Errorf("tries_total{result=connect_failure} = %v, want 1", got)
	}
}

func TestDialTunnelFailures(t *testing.T) {
	dead1 := deadUpstreamAddr(t, 0)
	dead2 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), dead1.Port())
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		target   *Target
		wantAddr string // *DialError.Addr; "" for another error
		wantIs   error
	}{
		{"all addresses dead reports the last", context.Background(), targetFor("svc.test", Retry{}, dead1, dead2), dead2.String(), nil},
		{"no address", context.Background(), &Target{Host: "svc.test", Port: 443}, "svc.test", errNoAddress},
		{"canceled context", canceled, targetFor("svc.test", Retry{}, dead1), "", context.Canceled},
		{"no target", context.Background(), nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTestTransport(t, Options{})
			ctx, cancel := context.WithTimeout(tt.ctx, guard)
			defer cancel()
			conn, err := tr.DialTunnel(ctx, tt.target)
			if err == nil {
				conn.Close()
				t.Fatal("DialTunnel succeeded")
			}
			var de *DialError
			if tt.wantAddr != "" && (!errors.As(err, &de) || de.Addr != tt.wantAddr) {
				t.Errorf("err = %v, want *DialError for %s", err, tt.wantAddr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}
