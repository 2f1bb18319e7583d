package upstream

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// The cases of reuse_test.go and transport_test.go, for the Client.

// TestClientChangedAddressNeverReusesOldConnection: see
// TestChangedAddressNeverReusesOldConnection. The Client speaks HTTP/1.1
// only, also to a server that offers HTTP/2.
func TestClientChangedAddressNeverReusesOldConnection(t *testing.T) {
	tests := []struct {
		name   string
		scheme string
		h2     bool
	}{
		{"http", "http", false},
		{"https over HTTP/1.1", "https", false},
		{"https to a server offering HTTP/2", "https", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, srv, cfg := newServerPair(t, tt.scheme, tt.h2)
			cl := newTestClient(t, Options{TLSConfig: cfg})
			url := fmt.Sprintf("%s://example.com:%d/", tt.scheme, a.Port())
			for i, ep := range []netip.AddrPort{a, b, a} {
				tg := targetFor("example.com", Retry{}, ep)
				res, err := sendClient(t, cl, context.Background(), "GET", url, nil, tg)
				if err != nil || res.status != http.StatusOK {
					t.Fatalf("call %d to %s: %+v, %v", i+1, ep, res, err)
				}
				if tg.Upstream != ep.String() {
					t.Errorf("call %d: Upstream = %q, want %s", i+1, tg.Upstream, ep)
				}
			}
			if got := srv[0].rec.count(); got != 2 {
				t.Errorf("the server at %s received %d requests, want 2 (calls 1 and 3)", a, got)
			}
			if got := srv[1].rec.count(); got != 1 {
				t.Errorf("the server at %s received %d requests, want 1 (call 2)", b, got)
			}
			if got := srv[0].conns.count(); got != 1 {
				t.Errorf("the server at %s accepted %d connections, want 1 (call 3 reuses it)", a, got)
			}
			for i, r := range srv[0].rec.reqs {
				if r.ProtoMajor != 1 {
					t.Errorf("request %d arrived over %s, want HTTP/1.1", i+1, r.Proto)
				}
			}
		})
	}
}

// TestClientTLSPoolIsKeyedByNameAndAddress: two names at one address never
// share a connection (each is verified for its own name).
func TestClientTLSPoolIsKeyedByNameAndAddress(t *testing.T) {
	a, _, srv, cfg := newServerPair(t, "https", true)
	cl := newTestClient(t, Options{TLSConfig: cfg})
	for i, name := range []string{"example.com", "api.example.com", "example.com"} {
		tg := targetFor(name, Retry{}, a)
		url := fmt.Sprintf("https://%s:%d/", name, a.Port())
		if res, err := sendClient(t, cl, context.Background(), "GET", url, nil, tg); err != nil || res.status != http.StatusOK {
			t.Fatalf("call %d to %s: %+v, %v", i+1, name, res, err)
		}
	}
	if got := srv[0].conns.count(); got != 2 {
		t.Errorf("server accepted %d connections, want 2 (one per name)", got)
	}
	for i, want := range []string{"example.com", "api.example.com", "example.com"} {
		if got := srv[0].rec.reqs[i].TLS.ServerName; got != want {
			t.Errorf("request %d arrived with SNI %q, want %q", i+1, got, want)
		}
	}
}

// TestClientPoolKeys replaces TestTLSPoolHostRoundTrips: the pool of an
// http call is its endpoint's whatever the name; an https call's is its
// name's and endpoint's.
func TestClientPoolKeys(t *testing.T) {
	cl := newTestClient(t, Options{})
	ep := netip.MustParseAddrPort("10.0.0.1:443")
	other := netip.MustParseAddrPort("10.0.0.2:443")
	tests := []struct {
		name       string
		a, b       func() *fasthttp.HostClient
		wantShared bool
	}{
		{"http: two names, one endpoint", func() *fasthttp.HostClient { return cl.pool("a.test", ep, false) },
			func() *fasthttp.HostClient { return cl.pool("b.test", ep, false) }, true},
		{"http: two endpoints", func() *fasthttp.HostClient { return cl.pool("a.test", ep, false) },
			func() *fasthttp.HostClient { return cl.pool("a.test", other, false) }, false},
		{"https: two names, one endpoint", func() *fasthttp.HostClient { return cl.pool("a.test", ep, true) },
			func() *fasthttp.HostClient { return cl.pool("b.test", ep, true) }, false},
		{"https: one name, one endpoint", func() *fasthttp.HostClient { return cl.pool("a.test", ep, true) },
			func() *fasthttp.HostClient { return cl.pool("a.test", ep, true) }, true},
		{"http and https", func() *fasthttp.HostClient { return cl.pool("a.test", ep, false) },
			func() *fasthttp.HostClient { return cl.pool("a.test", ep, true) }, false},
	}
	for _, tt := range tests {
		if shared := tt.a() == tt.b(); shared != tt.wantShared {
			t.Errorf("%s: shared pool = %v, want %v", tt.name, shared, tt.wantShared)
		}
	}
}

func TestNewClientTunesPool(t *testing.T) {
	cl := NewClient(Options{})
	hc := cl.pool("svc.test", netip.MustParseAddrPort("10.0.0.1:443"), true)
	if hc.MaxConns != 256 || hc.MaxIdleConnDuration != 90*time.Second || hc.MaxConnWaitTimeout == 0 {
		t.Errorf("MaxConns = %d, MaxIdleConnDuration = %v, MaxConnWaitTimeout = %v; want 256, 90s, set",
			hc.MaxConns, hc.MaxIdleConnDuration, hc.MaxConnWaitTimeout)
	}
	if !hc.IsTLS || hc.TLSConfig.ServerName != "svc.test" || hc.TLSConfig.MinVersion < 0x0303 {
		t.Errorf("IsTLS = %v, TLS config %+v; want TLS for svc.test, TLS 1.2 or later", hc.IsTLS, hc.TLSConfig)
	}
	if !hc.DisableHeaderNamesNormalizing || !hc.DisablePathNormalizing || !hc.NoDefaultUserAgentHeader || !hc.StreamResponseBody {
		t.Error("the pool normalizes headers or paths, adds a User-Agent, or buffers response bodies")
	}
	if hc.ReadBufferSize != respBufferSize || hc.DialTimeout == nil {
		t.Errorf("ReadBufferSize = %d, DialTimeout set %v; want %d, true", hc.ReadBufferSize, hc.DialTimeout != nil, respBufferSize)
	}
	if _, retry := hc.RetryIfErr(nil, 1, io.EOF); retry || hc.MaxIdemponentCallAttempts != 1 {
		t.Error("the pool retries on its own")
	}
}

func TestClientSendsTargetHostAndReusesConnections(t *testing.T) {
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
	cl := newTestClient(t, Options{})
	for i := range 5 {
		tg := targetFor("svc.test", Retry{}, ep)
		res, err := sendClient(t, cl, context.Background(), "GET", "http://svc.test/", nil, tg) // no Host header
		if err != nil || res.status != 200 {
			t.Fatalf("request %d: %+v, %v", i, res, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("upstream accepted %d connections for 5 sequential requests, want 1", n)
	}
	r := rec.reqs[0]
	if want := "svc.test:" + itoa(ep.Port()); r.Host != want {
		t.Errorf("upstream saw Host %q, want %q", r.Host, want)
	}
	if ae := r.Header.Get("Accept-Encoding"); ae != "" {
		t.Errorf("client added Accept-Encoding %q", ae)
	}
}

func TestClientKeepsRequestHost(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	srv, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	req, resp := newClientRequest(t, "GET", srv.URL+"/")
	req.Header.SetHost("custom.test")
	done, err := cl.Do(context.Background(), targetFor("svc.test", Retry{}, ep), req, resp)
	done()
	if err != nil {
		t.Fatal(err)
	}
	if rec.hosts[0] != "custom.test" {
		t.Errorf("upstream saw Host %q, want custom.test", rec.hosts[0])
	}
}

// TestClientDialsOnlyItsEndpoint replaces TestDialRefusesUncheckedAddress:
// a pool dials the endpoint it exists for, whatever address it is handed.
func TestClientDialsOnlyItsEndpoint(t *testing.T) {
	rec := &recorder{script: statuses(200)}
	_, ep := newUpstream(t, rec)
	other := listenOn(t, "127.0.0.2", 0)
	t.Cleanup(func() { other.Close() })
	cl := newTestClient(t, Options{})
	hc := cl.pool("svc.test", ep, false)
	conn, err := hc.DialTimeout(addrPort(t, other).String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if got := conn.RemoteAddr().String(); got != ep.String() {
		t.Errorf("pool for %s dialled %s", ep, got)
	}
}

// TestClientUpgradeOverDial replaces TestRoundTripUpgradeBodyIsWritable:
// Do refuses an upgrade (TestClientDoRefusesUpgrade); Dial gives the
// connection on which the caller writes the head and relays, past the
// call's timeout.
func TestClientUpgradeOverDial(t *testing.T) {
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
	_, ep := newUpstream(t, rec)
	cl := newTestClient(t, Options{})
	tg := targetFor("svc.test", Retry{Timeout: 100 * time.Millisecond}, ep)
	conn, err := cl.Dial(context.Background(), tg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(guard))
	io.WriteString(conn, "GET / HTTP/1.1\r\nHost: svc.test\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	head := "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
	buf := make([]byte, len(head))
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != head {
		t.Fatalf("head = %q, %v; want 101", buf, err)
	}
	time.Sleep(200 * time.Millisecond) // past the call timeout: an upgraded connection outlives it
	io.WriteString(conn, "ping")
	if _, err := io.ReadFull(conn, buf[:4]); err != nil || string(buf[:4]) != "ping" {
		t.Fatalf("echo = %q, %v; want ping", buf[:4], err)
	}
}
