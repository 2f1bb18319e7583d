package capturetest

// Attack cases beyond the list: what an app (uid 1000, no
// capabilities) in a captured pod might send to reach an address the
// policy denies, to go unaudited, or to wedge the door.

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"
)

func TestTransparentAttacks(t *testing.T) {
	s := newSuite(t)
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"SNI in upper case is decided and dialled as the allowed name", s.sniUpperCase},
		{"SNI with a trailing dot or a NUL is never taken for a name", s.sniMalformed},
		{"SNI that is an IP literal is dialled as that address, never the original", s.sniIPLiteral},
		{"absolute-form URI and Host disagree: the URI decides and is dialled", s.absoluteFormVersusHost},
		{"Host with another port than the original is dialled on the original port", s.hostOtherPort},
		{"HTTP/2 prior-knowledge preface is decided on the original address", s.h2Preface},
		{"DNS over TCP to a non-resolver is captured and denied", s.dnsOverTCPToDecoy},
		{"IPv4-mapped destination from an IPv6 socket is captured", s.mappedDestination},
		{"socket bound to the lo device reaches nothing outside", s.boundToLoopback},
	} {
		t.Run(c.name, c.run)
	}
}

// rawTLS sends a hand-made ClientHello with sni to dst and half-closes.
func (s *suite) rawTLS(t *testing.T, dst, sni string) result {
	return s.app(t, action{Kind: "raw", Addr: dst, attackAction: attackAction{Raw: clientHello(sni), HalfClose: true}})
}

func (s *suite) sniUpperCase(t *testing.T) {
	dst := s.tp.decoy.port(4, tlsPort)
	hellos := len(s.world.report(t).Hellos)
	from := s.amb.mark()
	s.rawTLS(t, dst, "ALLOWED.TEST")
	l := s.amb.waitAudit(t, from, "the TLS connection to "+dst, toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "allow", "rule": "allowed-web", "sni": "ALLOWED.TEST"}, "allowed-web")
	if !strings.HasPrefix(l.str("upstream"), s.tp.allowed.v4.String()+":") && !strings.Contains(l.str("upstream"), s.tp.allowed.v6.String()) {
		t.Errorf("audit upstream %q, want the allowed host; line: %s", l.str("upstream"), l)
	}
	if got := s.world.report(t).Hellos[hellos:]; len(got) != 1 || got[0].SNI != "ALLOWED.TEST" {
		t.Errorf("the TLS server saw %+v, want the one hello", got)
	}
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) sniMalformed(t *testing.T) {
	dst := s.tp.decoy.port(4, tlsPort)
	for _, c := range []struct{ sni, status, reason string }{
		// crypto/tls refuses a trailing dot: the hello is opaque bytes.
		{"allowed.test.", "403", "cidrs"},
		{"allowed.test\x00.decoy.test", "400", ""},
	} {
		from := s.amb.mark()
		s.rawTLS(t, dst, c.sni)
		l := s.amb.waitAudit(t, from, fmt.Sprintf("the TLS connection with SNI %q", c.sni), toDst(dst, ""))
		checkLine(t, l, map[string]string{"decision": "deny", "status": c.status, "upstream": ""}, c.reason)
	}
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) sniIPLiteral(t *testing.T) {
	// The cidrs rule allows the allowed host's address on the echo port:
	// an SNI naming it at the decoy's address goes to the echo.
	dst := s.tp.decoy.port(4, echoPort)
	echoes := len(s.world.report(t).Echo)
	from := s.amb.mark()
	hello := clientHello(s.tp.allowed.v4.String())
	r := s.rawTLS(t, dst, s.tp.allowed.v4.String())
	l := s.amb.waitAudit(t, from, "the TLS connection to "+dst, toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "allow", "rule": "echo-by-address", "upstream": s.tp.allowed.port(4, echoPort)}, "")
	if r.Err != "" || l.num("bytes_in") != int64(len(hello)) || l.num("bytes_out") != int64(len(hello)) {
		t.Errorf("client %+v, audit bytes in/out %d/%d: want the %d-byte hello relayed and echoed",
			r, l.num("bytes_in"), l.num("bytes_out"), len(hello))
	}
	if got := s.world.report(t).Echo[echoes:]; len(got) != 1 {
		t.Errorf("the echo saw %d connections, want 1", len(got))
	}
	// An SNI naming the decoy's own address is denied like the address.
	dst = s.tp.decoy.port(4, tlsPort)
	from = s.amb.mark()
	s.rawTLS(t, dst, s.tp.decoy.v4.String())
	l = s.amb.waitAudit(t, from, "the TLS connection to "+dst, toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, "cidrs")
	s.decoyGotNothing(t, false, s.tp.decoy.port(4, echoPort), dst)
}

func (s *suite) absoluteFormVersusHost(t *testing.T) {
	dst := s.tp.decoy.port(4, httpPort)
	// A request whose absolute-form host and Host header disagree is
	// refused whichever of the two is allowed: it names two destinations.
	for _, c := range []struct{ uri, host, status, decision string }{
		{"http://decoy.test/abs-decoy", "allowed.test", "HTTP/1.1 400", "deny"},
		{"http://allowed.test/abs-allowed", "decoy.test", "HTTP/1.1 400", "deny"},
	} {
		from := s.amb.mark()
		req := "GET " + c.uri + " HTTP/1.1\r\nHost: " + c.host + "\r\nConnection: close\r\n\r\n"
		r := s.app(t, action{Kind: "raw", Addr: dst, attackAction: attackAction{Raw: []byte(req)}})
		if !strings.HasPrefix(r.Received, c.status) {
			t.Errorf("GET %s with Host %s at %s: %q, want %s", c.uri, c.host, dst, r.Received, c.status)
		}
		if c.decision == "allow" && !strings.Contains(r.Received, `"Host":"allowed.test"`) {
			t.Errorf("the allowed upstream saw another Host: %q", r.Received)
		}
		l := s.amb.waitAudit(t, from, "GET "+c.uri, toDst(dst, c.uri[strings.LastIndexByte(c.uri, '/'):]))
		checkLine(t, l, map[string]string{"decision": c.decision}, "differs from Host header")
	}
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) hostOtherPort(t *testing.T) {
	dst := s.tp.decoy.port(4, httpPort)
	from := s.amb.mark()
	r := s.app(t, action{Kind: "http", Addr: dst, Host: "allowed.test:" + strconv.Itoa(altPort), Path: "/host-other-port"})
	on80 := strings.Contains(r.Body, `"Local":"`+s.tp.allowed.port(4, httpPort)+`"`) ||
		strings.Contains(r.Body, `"Local":"`+s.tp.allowed.port(6, httpPort)+`"`)
	if r.Status != http.StatusOK || !on80 {
		t.Errorf("Host allowed.test:%d at %s: %+v, want 200 from the allowed upstream on port %d", altPort, dst, r, httpPort)
	}
	l := s.amb.waitAudit(t, from, "GET /host-other-port", toDst(dst, "/host-other-port"))
	checkLine(t, l, map[string]string{"decision": "allow", "url": "http://allowed.test/host-other-port"}, "")
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) h2Preface(t *testing.T) {
	dst := s.tp.decoy.port(4, httpPort)
	from := s.amb.mark()
	preface := "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00"
	s.app(t, action{Kind: "raw", Addr: dst, attackAction: attackAction{Raw: []byte(preface), HalfClose: true}})
	l := s.amb.waitAudit(t, from, "the h2 connection to "+dst, toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "deny", "method": "TCP", "upstream": ""}, "cidrs")
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) dnsOverTCPToDecoy(t *testing.T) {
	dst := s.tp.decoy.port(4, dnsPort)
	// A DNS query over TCP: a two-byte length, then the message.
	query := []byte{0, 29, 0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1}
	from := s.amb.mark()
	r := s.app(t, action{Kind: "raw", Addr: dst, attackAction: attackAction{Raw: query, HalfClose: true}})
	if r.Received != "" {
		t.Errorf("DNS over TCP to %s: got %q back", dst, r.Received)
	}
	l := s.amb.waitAudit(t, from, "DNS over TCP to "+dst, toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, "cidrs")
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) mappedDestination(t *testing.T) {
	dst := netip.AddrPortFrom(netip.AddrFrom16(s.tp.decoy.v4.As16()), echoPort).String()
	plain := s.tp.decoy.port(4, echoPort)
	from := s.amb.mark()
	r := s.app(t, action{Kind: "mapped6", Addr: dst, attackAction: attackAction{Raw: []byte("mapped leak\n"), HalfClose: true}})
	if r.Received != "" {
		t.Errorf("TCP to %s: %+v, want nothing back", dst, r)
	}
	l := s.amb.waitAudit(t, from, "TCP to "+dst, toDst(plain, ""))
	checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, "cidrs")
	s.decoyGotNothing(t, false, plain)
}

// boundToLoopback binds the socket to lo, whose traffic the capture lets
// through, and aims it at the decoy; with forwarding on in the pod (as on
// a Kubernetes node, whose setting a new namespace inherits).
func (s *suite) boundToLoopback(t *testing.T) {
	if _, err := cmdOutput("ip", "netns", "exec", s.tp.pod, "sysctl", "-qw",
		"net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	var dsts []string
	for _, family := range []int{4, 6} {
		dst := s.tp.decoy.port(family, httpPort)
		dsts = append(dsts, dst)
		local := s.tp.podAddr.v4.String()
		if family == 6 {
			local = s.tp.podAddr.v6.String()
		}
		for _, l := range []string{"", local} {
			r := s.app(t, action{Kind: "bindlo", Addr: dst, attackAction: attackAction{Raw: []byte("bound to lo\n"), HalfClose: true, Local: l}})
			t.Logf("bound to lo, from %q to %s: %+v", l, dst, r)
		}
	}
	s.decoyGotNothing(t, false, dsts...)
}

// TestTransparentDoorSlotsAreReleased caps the door at two connections and
// sends many more, one after the other, of every kind the door ends
// differently; a slot that is not given back wedges the door.
func TestTransparentDoorSlotsAreReleased(t *testing.T) {
	testnet.RequireNetns(t, "ip", "nft", "setpriv")
	tp := newTopology(t)
	bins := buildBinaries(t)
	certPEM, keyPEM := selfSigned(t, "allowed.test")
	tp.startWorld(bins, certPEM, keyPEM)
	tp.initCapture(t, bins)
	tp.startAmbassador(bins, proxyUID, tp.captureTable(), "--max-connections", "2")
	if r := tp.runClient(t, bins, appUID, action{Kind: "readyz", Addr: adminAddr, WantStatus: http.StatusOK}); r.Status != http.StatusOK {
		t.Fatalf("ambassador not ready: %+v", r)
	}
	kinds := []action{
		{Kind: "http", Addr: tp.allowed.port(4, httpPort), Host: "allowed.test", Path: "/slots"},
		{Kind: "http", Addr: tp.decoy.port(6, httpPort), Host: "decoy.test", Path: "/slots"},
		{Kind: "http", Addr: "127.0.0.1:15001", Host: "allowed.test", Path: "/slots"},
		{Kind: "tcp", Addr: tp.allowed.port(4, echoPort), Payload: "slot\n"},
		{Kind: "tcp", Addr: tp.decoy.port(4, echoPort), Payload: "slot\n"},
		{Kind: "raw", Addr: tp.decoy.port(4, tlsPort), attackAction: attackAction{Raw: clientHello("decoy.test"), HalfClose: true}},
		{Kind: "raw", Addr: tp.decoy.port(4, httpPort), attackAction: attackAction{Raw: []byte("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")}},
	}
	for round := range 3 {
		for _, a := range kinds {
			if r := tp.runClient(t, bins, appUID, a); strings.Contains(r.Err, "timeout") {
				t.Fatalf("round %d, %s to %s: %+v: the door stopped answering", round, a.Kind, a.Addr, r)
			}
		}
	}
	if r := tp.runClient(t, bins, appUID, kinds[0]); r.Status != http.StatusOK {
		t.Errorf("allowed GET after %d connections: %+v, want 200", 3*len(kinds), r)
	}
}
