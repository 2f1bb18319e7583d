package upstream

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestNewTunesPool(t *testing.T) {
	tr := New(Options{})
	p := tr.pool
	if p.Proxy != nil {
		t.Error("pool uses a proxy; it must never use environment proxies")
	}
	if p.MaxIdleConnsPerHost != 256 || p.MaxIdleConns != 1024 {
		t.Errorf("MaxIdleConnsPerHost = %d, MaxIdleConns = %d; want 256, 1024", p.MaxIdleConnsPerHost, p.MaxIdleConns)
	}
	if !p.DisableCompression || !p.ForceAttemptHTTP2 {
		t.Errorf("DisableCompression = %v, ForceAttemptHTTP2 = %v; want both true", p.DisableCompression, p.ForceAttemptHTTP2)
	}
	if p.IdleConnTimeout == 0 || p.TLSHandshakeTimeout == 0 || p.ExpectContinueTimeout == 0 || tr.dialer.Timeout == 0 {
		t.Error("a pool timeout is unset")
	}
}

func TestRoundTripSendsTargetHostAndReusesConnections(t *testing.T) {
	var conns atomic.Int32
	rec := &recorder{script: statuses(200)}
	srv := httptest.NewUnstartedServer(rec)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	ep := addrPort(t, srv.Listener)
	tr := newTestTransport(t, Options{})
	for i := range 5 {
		tg := targetFor("svc.test", Retry{}, ep)
		req, _ := http.NewRequestWithContext(WithTarget(context.Background(), tg), "GET", "http://svc.test/", nil)
		req.Host = "" // as ProxyRequest.SetURL leaves it
		res, err := tr.RoundTrip(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("request %d: %v, %v", i, res, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("upstream accepted %d connections for 5 sequential requests, want 1", n)
	}
	r := rec.reqs[0]
	if want := "svc.test:" + itoa(ep.Port()); r.Host != want {
		t.Errorf("upstream saw Host %q, want %q", r.Host, want)
	}
	if ae := r.Header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("transport added Accept-Encoding %q", ae)
	}
}

func TestRoundTripKeepsRequestHost(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	srv, ep := newUpstream(t, rec)
	tr := newTestTransport(t, Options{})
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "custom.test"
	req = req.WithContext(WithTarget(context.Background(), targetFor("svc.test", Retry{}, ep)))
	res, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if rec.hosts[0] != "custom.test" {
		t.Errorf("upstream saw Host %q, want custom.test", rec.hosts[0])
	}
	if res.Request != req {
		t.Error("Response.Request is not the caller's request")
	}
}

func TestHostHeader(t *testing.T) {
	tests := []struct {
		name   string
		host   string
		port   uint16
		scheme string
		want   string
	}{
		{"http default port", "svc.test", 80, "http", "svc.test"},
		{"https default port", "svc.test", 443, "https", "svc.test"},
		{"http on 443 keeps the port", "svc.test", 443, "http", "svc.test:443"},
		{"other port", "svc.test", 8080, "http", "svc.test:8080"},
		{"IPv6 default port", "2001:db8::1", 443, "https", "[2001:db8::1]"},
		{"IPv6 other port", "2001:db8::1", 8443, "https", "[2001:db8::1]:8443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := &Target{Host: tt.host, Port: tt.port}
			if got := tg.hostHeader(tt.scheme); got != tt.want {
				t.Errorf("hostHeader = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDialRefusesUncheckedAddress(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	_, ep := newUpstream(t, rec)
	tr := newTestTransport(t, Options{})
	tg := targetFor("svc.test", Retry{}, ep)
	other := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), ep.Port())
	c := newCall(tg)
	ctx := context.WithValue(context.Background(), callKey{}, c)
	if conn, err := tr.dialHTTP(ctx, "tcp", other.String()); err == nil {
		conn.Close()
		t.Fatal("dialHTTP dialled an address that was not checked")
	}
	if conn, err := tr.dialHTTP(context.Background(), "tcp", ep.String()); err == nil {
		conn.Close()
		t.Fatal("dialHTTP dialled without a call in the context")
	}
	if rec.count() != 0 {
		t.Errorf("upstream received %d requests", rec.count())
	}
}

func TestCallPickPrefersUntried(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	c := netip.MustParseAddr("10.0.0.3")
	cl := newCall(&Target{Host: "svc.test", Port: 80, Addrs: []netip.Addr{a, b, c}})
	// Try 0 went out on a reused connection to b (as an https try reports).
	cl.begin(0)
	cl.markTried(netip.AddrPortFrom(b, 80))
	var got []netip.Addr
	for n := 1; n <= 4; n++ {
		cl.begin(n)
		got = append(got, cl.pick().Addr())
	}
	// Untried first (a, c), then rotation by try number (3%3=0, 4%3=1).
	want := []netip.Addr{a, c, a, b}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("picks = %v, want %v", got, want)
		}
	}
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func TestRoundTripUpgradeBodyIsWritable(t *testing.T) {
	rec := &recorder{script: func(_ int, w http.ResponseWriter, _ *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw) // echo until the client closes
	}}
	srv, ep := newUpstream(t, rec)
	tr := newTestTransport(t, Options{})
	tg := targetFor("svc.test", Retry{Timeout: 100 * time.Millisecond}, ep)
	req, _ := http.NewRequestWithContext(WithTarget(context.Background(), tg), "GET", srv.URL+"/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "echo")
	res, err := tr.RoundTrip(req)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v, %v; want 101", res, err)
	}
	defer res.Body.Close()
	rw, ok := res.Body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("101 body %T is not writable", res.Body)
	}
	time.Sleep(200 * time.Millisecond) // past the call timeout: an upgraded connection outlives it
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(rw, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo = %q, %v; want ping", buf, err)
	}
}

func TestCallPickSkipsFailedOnceAllTried(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	b := netip.MustParseAddr("10.0.0.2")
	c := netip.MustParseAddr("10.0.0.3")
	cl := newCall(&Target{Host: "svc.test", Port: 80, Addrs: []netip.Addr{a, b, c}})
	var got []netip.Addr
	for n := range 6 {
		cl.begin(n)
		ep := cl.pick()
		got = append(got, ep.Addr())
		if ep.Addr() != b { // a and c refuse
			cl.markFailed(ep)
		}
	}
	// a, b, c untried first; then rotation by try number skips a and c.
	want := []netip.Addr{a, b, c, b, b, b}
	if !slices.Equal(got, want) {
		t.Fatalf("picks = %v, want %v", got, want)
	}
	cl.markFailed(netip.AddrPortFrom(b, 80))
	cl.begin(6)
	if got := cl.pick().Addr(); got != a { // all failed: rotation by try number (6%3=0)
		t.Errorf("with every address failed, pick = %v, want %v", got, a)
	}
}
