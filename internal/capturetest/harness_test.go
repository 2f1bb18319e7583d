package capturetest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"
)

// TestHarnessWithoutCapture runs the client actions in a pod with no
// capture installed: everything reaches the world, the decoy records the
// bytes and the datagrams, and the TLS server records each SNI. It shows
// that the capture tests' absence checks could fail, and that a failure
// there is the capture's, not the harness's.
func TestHarnessWithoutCapture(t *testing.T) {
	testnet.RequireNetns(t, "ip", "nft", "setpriv")
	tp := newTopology(t)
	bins := testBinary(t)
	certPEM, keyPEM := selfSigned(t, "allowed.test")
	s := &suite{tp: tp, bins: bins, certPEM: string(certPEM)}
	s.world = tp.startWorld(bins, certPEM, keyPEM)

	t.Run("HTTP reaches the allowed upstream", func(t *testing.T) {
		r := s.app(t, action{Kind: "http", Addr: tp.allowed.port(6, altPort), Host: "allowed.test:8080", Path: "/direct"})
		if r.Status != http.StatusOK || !strings.Contains(r.Body, `"Path":"/direct"`) {
			t.Errorf("%+v, want 200 from the allowed upstream", r)
		}
	})
	t.Run("shaped ClientHellos complete with the TLS server", func(t *testing.T) {
		for _, a := range []action{{}, {Segments: 4}, {Segments: 3, Records: 3}, {ALPNPad: 5000, Segments: 2, Records: 2}} {
			a.Kind, a.Addr, a.SNI, a.RootPEM, a.Path = "tls", tp.allowed.port(4, tlsPort), "allowed.test", s.certPEM, "/tls"
			if r := s.app(t, a); !r.Handshake || !strings.Contains(r.Body, `"SNI":"allowed.test"`) {
				t.Errorf("%+v: %+v, want a verified handshake and the SNI echoed", a, r)
			} else if a.ALPNPad > 0 && r.HelloLen <= 4096 {
				t.Errorf("the padded hello was %d bytes, want over 4 KiB", r.HelloLen)
			}
		}
		if r := s.app(t, action{Kind: "tls", Addr: tp.allowed.port(4, tlsPort), Path: "/no-sni"}); !r.Handshake || !strings.Contains(r.Body, `"SNI":""`) {
			t.Errorf("TLS without SNI: %+v, want a handshake with no name", r)
		}
	})
	t.Run("the echo sends back what it gets", func(t *testing.T) {
		if r := s.app(t, action{Kind: "tcp", Addr: tp.allowed.port(6, echoPort), Payload: "ping\n"}); r.Received != "ping\n" {
			t.Errorf("%+v, want ping echoed", r)
		}
	})
	t.Run("the decoy records what the app sends, before the marker", func(t *testing.T) {
		for _, family := range []int{4, 6} {
			s.app(t, action{Kind: "tcp", Addr: tp.decoy.port(family, tlsPort), Payload: "leak"})
			s.app(t, action{Kind: "udp", Addr: tp.decoy.port(family, udpPort), Payload: "leak"})
		}
		dsts := []string{tp.decoy.port(4, tlsPort), tp.decoy.port(6, tlsPort)}
		if got := s.decoyBeforeMarkers(t, false, dsts...); strings.Join(got, ",") != "leak,leak" {
			t.Errorf("decoy TCP records %q, want two leaks", got)
		}
		dsts = []string{tp.decoy.port(4, udpPort), tp.decoy.port(6, udpPort)}
		if got := s.decoyBeforeMarkers(t, true, dsts...); strings.Join(got, ",") != "leak,leak" {
			t.Errorf("decoy UDP records %q, want two leaks", got)
		}
	})
}
