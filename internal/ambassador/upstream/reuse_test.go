package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
)

// connCounter counts the connections a server accepted.
type connCounter struct {
	mu  sync.Mutex
	new int
}

func (c *connCounter) track(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.mu.Lock()
		c.new++
		c.mu.Unlock()
	}
}

func (c *connCounter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.new
}

// pairServer is one server of a name with two addresses.
type pairServer struct {
	rec   *recorder
	conns *connCounter
}

// newServerPair starts two servers on 127.0.0.1 and 127.0.0.2 at one port,
// plain or TLS (with HTTP/2 when h2), as one name's two addresses would be.
func newServerPair(t *testing.T, scheme string, h2 bool) (a, b netip.AddrPort, servers [2]pairServer, cfg *tls.Config) {
	t.Helper()
	var port uint16
	var eps [2]netip.AddrPort
	for i, ip := range []string{"127.0.0.1", "127.0.0.2"} {
		servers[i] = pairServer{rec: &recorder{script: statuses(200)}, conns: &connCounter{}}
		srv := httptest.NewUnstartedServer(servers[i].rec)
		srv.Listener.Close()
		srv.Listener = listenOn(t, ip, port)
		srv.Config.ConnState = servers[i].conns.track
		srv.Config.ErrorLog = log.New(io.Discard, "", 0)
		if scheme == "https" {
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			cfg = &tls.Config{RootCAs: roots}
		} else {
			srv.Start()
		}
		t.Cleanup(srv.Close)
		eps[i] = addrPort(t, srv.Listener)
		port = eps[i].Port()
	}
	return eps[0], eps[1], servers, cfg
}

// TestChangedAddressNeverReusesOldConnection sends three calls to one name:
// the first resolved to a, the second to b (the DNS answer changed), the
// third to a again. The second must reach b on a new connection, never the
// idle one to a; the third may reuse the connection to a.
func TestChangedAddressNeverReusesOldConnection(t *testing.T) {
	tests := []struct {
		name   string
		scheme string
		h2     bool
		proto  int
	}{
		{"http", "http", false, 1},
		{"https over HTTP/1.1", "https", false, 1},
		{"https over HTTP/2", "https", true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b, srv, cfg := newServerPair(t, tt.scheme, tt.h2)
			tr := newTestTransport(t, Options{TLSConfig: cfg})
			url := fmt.Sprintf("%s://example.com:%d/", tt.scheme, a.Port())
			for i, ep := range []netip.AddrPort{a, b, a} {
				tg := targetFor("example.com", Retry{}, ep)
				res, _, err := send(t, tr, context.Background(), "GET", url, nil, tg)
				if err != nil || res.StatusCode != http.StatusOK {
					t.Fatalf("call %d to %s: %v, %v", i+1, ep, res, err)
				}
				if tg.Upstream != ep.String() {
					t.Errorf("call %d: Upstream = %q, want %s", i+1, tg.Upstream, ep)
				}
				if res.ProtoMajor != tt.proto {
					t.Errorf("call %d: %s, want HTTP/%d", i+1, res.Proto, tt.proto)
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
		})
	}
}

// TestTLSPoolIsKeyedByNameAndAddress checks that two names at one address
// never share a connection (each is verified for its own name).
func TestTLSPoolIsKeyedByNameAndAddress(t *testing.T) {
	a, _, srv, cfg := newServerPair(t, "https", true)
	tr := newTestTransport(t, Options{TLSConfig: cfg})
	for i, name := range []string{"example.com", "api.example.com", "example.com"} {
		tg := targetFor(name, Retry{}, a)
		url := fmt.Sprintf("https://%s:%d/", name, a.Port())
		if res, _, err := send(t, tr, context.Background(), "GET", url, nil, tg); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("call %d to %s: %v, %v", i+1, name, res, err)
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

func TestTLSPoolHostRoundTrips(t *testing.T) {
	tests := []struct {
		name string
		ep   netip.AddrPort
		addr string // what the pool hands the dialer
	}{
		{"example.com", netip.MustParseAddrPort("10.0.0.1:443"), "example.com/10.0.0.1:443"},
		{"example.com", netip.MustParseAddrPort("[2001:db8::1]:8443"), "[example.com/2001:db8::1]:8443"},
		{"10.0.0.1", netip.MustParseAddrPort("10.0.0.1:443"), "10.0.0.1/10.0.0.1:443"},
	}
	for _, tt := range tests {
		u := tlsPoolHost(tt.name, tt.ep)
		host, port, err := net.SplitHostPort(u)
		if err != nil || net.JoinHostPort(host, port) != tt.addr {
			t.Errorf("tlsPoolHost(%s, %s) = %q; the pool would dial %q, want %q", tt.name, tt.ep, u, net.JoinHostPort(host, port), tt.addr)
		}
		name, ep, ok := parseTLSPoolAddr(tt.addr)
		if !ok || name != tt.name || ep != tt.ep {
			t.Errorf("parseTLSPoolAddr(%q) = %q, %s, %v; want %q, %s", tt.addr, name, ep, ok, tt.name, tt.ep)
		}
	}
	for _, bad := range []string{"example.com:443", "example.com/notanip:443", "example.com/10.0.0.1", ""} {
		if _, _, ok := parseTLSPoolAddr(bad); ok {
			t.Errorf("parseTLSPoolAddr(%q) accepted", bad)
		}
	}
}
