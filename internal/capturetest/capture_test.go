package capturetest

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// TestTransparentCapture runs an app with no proxy settings in a pod whose
// outbound traffic `ambassador init` captured, and checks that it is
// governed exactly as the RouteTable says: by name for HTTP and TLS, by
// address for everything else, with nothing reaching an address policy did
// not decide on.
func TestTransparentCapture(t *testing.T) {
	s := newSuite(t)
	tp := s.tp
	for _, c := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"self-check passes and readyz is 200 with the right proxy uid", s.readyWithRightUID},
		{"allowed HTTP by name reaches the upstream", s.allowedHTTP},
		{"allowed TLS by name reaches the TLS server with its SNI", func(t *testing.T) {
			s.allowedTLS(t, "tls-by-name", action{Addr: tp.allowed.port(4, tlsPort)})
		}},
		{"allowed TLS by name over IPv6", func(t *testing.T) {
			s.allowedTLS(t, "tls-by-name-v6", action{Addr: tp.allowed.port(6, tlsPort)})
		}},
		{"ClientHello split over four TCP segments is decided on its SNI", func(t *testing.T) {
			s.allowedTLS(t, "split-segments", action{Addr: tp.allowed.port(4, tlsPort), Segments: 4})
		}},
		{"ClientHello split over three TLS records is decided on its SNI", func(t *testing.T) {
			s.allowedTLS(t, "split-records", action{Addr: tp.allowed.port(4, tlsPort), Segments: 3, Records: 3})
		}},
		{"ClientHello over 4 KiB is decided on its SNI", func(t *testing.T) {
			s.allowedTLS(t, "big-hello", action{Addr: tp.allowed.port(4, tlsPort), ALPNPad: 5000, Segments: 2})
		}},
		{"denied name gets 403 with the reason", s.deniedName},
		{"literal IP in the Host header is denied without a cidrs rule", s.deniedLiteralIP},
		{"raw TCP to an address no cidrs rule allows is closed unsent", s.deniedRawTCP},
		{"raw TCP allowed by a cidrs rule reaches the echo", s.allowedRawTCP},
		{"allowed Host header aimed at the decoy's address never reaches the decoy", s.hostAimedAtDecoy},
		{"second request on a kept-alive connection is decided on its own Host", s.keptAliveSecondHost},
		{"allowed SNI aimed at the decoy's address never reaches the decoy", s.sniAimedAtDecoy},
		{"silent client aimed at the decoy is decided on the address after the detect timeout", s.silentToDecoy},
		{"TLS without SNI is decided on the original address and denied without a cidrs rule", s.tlsWithoutSNI},
		{"IPv6 to the decoy does not bypass the capture", s.ipv6ToDecoy},
		{"UDP to the decoy never arrives", s.udpToDecoy},
		{"DNS to the pod's resolver is let through", s.dnsToResolver},
		{"connecting to the capture port itself is denied as a loop and the ambassador keeps serving", s.loop},
		{"init a second time leaves the same ruleset", s.initTwice},
		{"init --cleanup restores the ruleset from before init", s.cleanup},
	} {
		t.Run(c.name, c.run)
	}
}

func (s *suite) readyWithRightUID(t *testing.T) {
	r := s.readyz(t, http.StatusOK, "")
	if r.Status != http.StatusOK {
		t.Errorf("/readyz: %+v, want 200", r)
	}
}

func (s *suite) allowedHTTP(t *testing.T) {
	for _, family := range []int{4, 6} {
		for _, port := range []int{httpPort, altPort} {
			dst := s.tp.allowed.port(family, port)
			host := "allowed.test"
			if port != httpPort {
				host += ":" + strconv.Itoa(port)
			}
			path := "/allowed-http-v" + strconv.Itoa(family)
			from := s.amb.mark()
			r := s.app(t, action{Kind: "http", Addr: dst, Host: host, Path: path})
			if r.Status != http.StatusOK || !strings.Contains(r.Body, `"Server":"allowed"`) || !strings.Contains(r.Body, `"Path":"`+path+`"`) {
				t.Errorf("GET %s at %s: %+v, want 200 from the allowed upstream", path, dst, r)
				continue
			}
			l := s.amb.waitAudit(t, from, "GET "+path, toDst(dst, path))
			checkLine(t, l, map[string]string{"decision": "allow", "rule": "allowed-web", "status": "200"}, "allowed-web")
		}
	}
}

// allowedTLS completes a handshake with SNI allowed.test at a.Addr and
// checks that the TLS server saw the name and the audit line on close.
func (s *suite) allowedTLS(t *testing.T, path string, a action) {
	a.Kind, a.SNI, a.RootPEM, a.Path = "tls", "allowed.test", s.certPEM, "/"+path
	hellos := len(s.world.report(t).Hellos)
	from := s.amb.mark()
	r := s.app(t, a)
	if !r.Handshake || r.Status != http.StatusOK || !strings.Contains(r.Body, `"SNI":"allowed.test"`) {
		t.Fatalf("TLS to %s with SNI allowed.test: %+v, want a verified handshake and 200 from the TLS server", a.Addr, r)
	}
	if a.ALPNPad > 0 && r.HelloLen <= 4096 {
		t.Errorf("the ClientHello was %d bytes, want over 4 KiB", r.HelloLen)
	}
	got := s.world.report(t).Hellos[hellos:]
	if len(got) != 1 || got[0].SNI != "allowed.test" || got[0].ALPNBytes < a.ALPNPad {
		t.Errorf("the TLS server saw hellos %+v, want one with SNI allowed.test and %d+ bytes of ALPN", got, a.ALPNPad)
	}
	l := s.amb.waitAudit(t, from, "the TLS connection to "+a.Addr, toDst(a.Addr, ""))
	checkLine(t, l, map[string]string{"decision": "allow", "rule": "allowed-web", "sni": "allowed.test"}, "allowed-web")
	if l.num("bytes_in") < int64(r.HelloLen) || l.num("bytes_out") == 0 {
		t.Errorf("audit bytes in/out = %d/%d, want at least the %d-byte hello in and the server's flight out; line: %s",
			l.num("bytes_in"), l.num("bytes_out"), r.HelloLen, l)
	}
}

func (s *suite) deniedName(t *testing.T) {
	dst := s.tp.decoy.port(4, httpPort)
	from := s.amb.mark()
	r := s.app(t, action{Kind: "http", Addr: dst, Host: "decoy.test", Path: "/denied-name"})
	checkForbidden(t, r, "decoy.test")
	l := s.amb.waitAudit(t, from, "GET /denied-name", toDst(dst, "/denied-name"))
	checkLine(t, l, map[string]string{"decision": "deny", "status": "403", "upstream": ""}, "decoy.test")
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) deniedLiteralIP(t *testing.T) {
	for _, family := range []int{4, 6} {
		dst := s.tp.decoy.port(family, httpPort)
		from := s.amb.mark()
		host := s.tp.decoy.v4.String()
		if family == 6 {
			host = "[" + s.tp.decoy.v6.String() + "]"
		}
		r := s.app(t, action{Kind: "http", Addr: dst, Host: host, Path: "/literal-ip"})
		checkForbidden(t, r, "cidrs")
		l := s.amb.waitAudit(t, from, "GET /literal-ip at "+dst, toDst(dst, "/literal-ip"))
		checkLine(t, l, map[string]string{"decision": "deny", "status": "403", "upstream": ""}, "cidrs")
		s.decoyGotNothing(t, false, dst)
	}
}

func (s *suite) deniedRawTCP(t *testing.T) {
	conns := s.world.report(t).HTTPConns
	for _, c := range []struct{ dst, reason string }{
		{s.tp.decoy.port(4, echoPort), "cidrs"},
		{s.tp.decoy.port(6, echoPort), "cidrs"},
		// The cidrs rule names the allowed host's address, for another port.
		{s.tp.allowed.port(4, altPort), "not " + strconv.Itoa(altPort)},
	} {
		from := s.amb.mark()
		r := s.app(t, action{Kind: "tcp", Addr: c.dst, Payload: "not a protocol the door knows\n"})
		if r.Received != "" {
			t.Errorf("raw TCP to %s: received %q, want nothing", c.dst, r.Received)
		}
		l := s.amb.waitAudit(t, from, "raw TCP to "+c.dst, toDst(c.dst, ""))
		checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, c.reason)
	}
	if n := s.world.report(t).HTTPConns; n != conns {
		t.Errorf("the allowed upstream accepted %d connections for denied raw TCP", n-conns)
	}
	s.decoyGotNothing(t, false, s.tp.decoy.port(4, echoPort), s.tp.decoy.port(6, echoPort))
}

// silentToDecoy waits like a client of a server that speaks first: past
// the detect timeout the door decides on the original address.
func (s *suite) silentToDecoy(t *testing.T) {
	dst := s.tp.decoy.port(4, altPort)
	from := s.amb.mark()
	r := s.app(t, action{Kind: "tcp", Addr: dst, Silent: true})
	if r.Received != "" {
		t.Errorf("silent TCP to %s: received %q, want nothing", dst, r.Received)
	}
	l := s.amb.waitAudit(t, from, "silent TCP to "+dst, toDst(dst, ""))
	checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, "cidrs")
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) allowedRawTCP(t *testing.T) {
	for _, family := range []int{4, 6} {
		dst := s.tp.allowed.port(family, echoPort)
		payload := "echo me over IPv" + strconv.Itoa(family) + "\n"
		echoes := len(s.world.report(t).Echo)
		from := s.amb.mark()
		r := s.app(t, action{Kind: "tcp", Addr: dst, Payload: payload})
		if r.Received != payload || r.Err != "" {
			t.Errorf("raw TCP to %s: %+v, want the payload echoed", dst, r)
		}
		l := s.amb.waitAudit(t, from, "raw TCP to "+dst, toDst(dst, ""))
		checkLine(t, l, map[string]string{"decision": "allow", "rule": "echo-by-address"}, "echo-by-address")
		if l.num("bytes_in") != int64(len(payload)) || l.num("bytes_out") != int64(len(payload)) {
			t.Errorf("audit bytes in/out = %d/%d, want %d/%d", l.num("bytes_in"), l.num("bytes_out"), len(payload), len(payload))
		}
		if got := s.world.report(t).Echo[echoes:]; len(got) != 1 || string(got[0].Data) != payload {
			t.Errorf("the echo saw %+v, want one connection carrying %q", got, payload)
		}
	}
}

func (s *suite) hostAimedAtDecoy(t *testing.T) {
	for _, family := range []int{4, 6} {
		dst := s.tp.decoy.port(family, httpPort)
		path := "/host-aimed-at-decoy-v" + strconv.Itoa(family)
		from := s.amb.mark()
		r := s.app(t, action{Kind: "http", Addr: dst, Host: "allowed.test", Path: path})
		switch {
		case r.Status == http.StatusOK && strings.Contains(r.Body, `"Server":"allowed"`):
			t.Logf("Host allowed.test at %s: answered by the allowed upstream", dst)
		case r.Status == http.StatusForbidden:
			t.Logf("Host allowed.test at %s: denied: %s", dst, r.Reason)
		default:
			t.Errorf("GET %s with Host allowed.test at %s: %+v, want 200 from the allowed upstream or 403", path, dst, r)
		}
		l := s.amb.waitAudit(t, from, "GET "+path, toDst(dst, path))
		if up := l.str("upstream"); up != "" && !strings.Contains(up, s.tp.allowed.v4.String()) && !strings.Contains(up, s.tp.allowed.v6.String()) {
			t.Errorf("audit upstream %q is not the allowed host; line: %s", up, l)
		}
		s.decoyGotNothing(t, false, dst)
	}
}

// keptAliveSecondHost sends a request for the allowed name at the decoy's
// address, then one for the decoy's name on the same connection: the
// first may be answered by the allowed upstream, the second is decided on
// its own Host and denied.
func (s *suite) keptAliveSecondHost(t *testing.T) {
	dst := s.tp.decoy.port(4, httpPort)
	from := s.amb.mark()
	r := s.app(t, action{Kind: "http", Addr: dst, Host: "allowed.test", Path: "/kept-alive", Then: []string{"decoy.test"}})
	if r.Status != http.StatusOK && r.Status != http.StatusForbidden {
		t.Errorf("first request (Host allowed.test) at %s: %+v, want 200 or 403", dst, r)
	}
	if len(r.Then) != 1 || r.Then[0].Status == http.StatusOK {
		t.Errorf("second request (Host decoy.test) on the same connection: %+v, want it denied or the connection closed", r.Then)
	}
	if len(r.Then) == 1 && r.Then[0].Status != 0 {
		checkForbidden(t, r.Then[0], "decoy.test")
		l := s.amb.waitAudit(t, from, "the second request", func(l auditLine) bool {
			return toDst(dst, "/kept-alive")(l) && strings.Contains(l.str("url"), "decoy.test")
		})
		checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, "decoy.test")
	}
	s.decoyGotNothing(t, false, dst)
}

func (s *suite) sniAimedAtDecoy(t *testing.T) {
	for _, family := range []int{4, 6} {
		dst := s.tp.decoy.port(family, tlsPort)
		from := s.amb.mark()
		r := s.app(t, action{Kind: "tls", Addr: dst, SNI: "allowed.test", RootPEM: s.certPEM, Path: "/sni-aimed-at-decoy"})
		if r.Handshake && !strings.Contains(r.Body, `"SNI":"allowed.test"`) {
			t.Errorf("TLS with SNI allowed.test at %s: %+v; a completed handshake must be with the TLS server", dst, r)
		}
		t.Logf("SNI allowed.test at %s: handshake %v, status %d, %s", dst, r.Handshake, r.Status, r.Err)
		s.amb.waitAudit(t, from, "the TLS connection to "+dst, toDst(dst, ""))
		s.decoyGotNothing(t, false, dst)
	}
}

func (s *suite) tlsWithoutSNI(t *testing.T) {
	for _, c := range []struct{ dst, reason string }{
		{s.tp.decoy.port(4, tlsPort), "cidrs"},
		// The cidrs rule names the allowed host's address, for another port.
		{s.tp.allowed.port(4, tlsPort), "not " + strconv.Itoa(tlsPort)},
	} {
		hellos := len(s.world.report(t).Hellos)
		from := s.amb.mark()
		r := s.app(t, action{Kind: "tls", Addr: c.dst, Path: "/no-sni"})
		if r.Handshake {
			t.Errorf("TLS without SNI to %s: %+v, want the connection closed before a handshake", c.dst, r)
		}
		l := s.amb.waitAudit(t, from, "the TLS connection without SNI to "+c.dst, toDst(c.dst, ""))
		checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, c.reason)
		if sni := l.str("sni"); sni != "" {
			t.Errorf("audit sni = %q for a hello without one", sni)
		}
		if got := s.world.report(t).Hellos[hellos:]; len(got) != 0 {
			t.Errorf("the TLS server saw %+v, want no hello", got)
		}
	}
	s.decoyGotNothing(t, false, s.tp.decoy.port(4, tlsPort))
}

func (s *suite) ipv6ToDecoy(t *testing.T) {
	var dsts []string
	for _, port := range []int{echoPort, tlsPort, altPort} {
		dst := s.tp.decoy.port(6, port)
		dsts = append(dsts, dst)
		from := s.amb.mark()
		r := s.app(t, action{Kind: "tcp", Addr: dst, Payload: "raw bytes over IPv6\n"})
		if r.Received != "" {
			t.Errorf("TCP over IPv6 to %s: received %q, want nothing", dst, r.Received)
		}
		l := s.amb.waitAudit(t, from, "TCP over IPv6 to "+dst, toDst(dst, ""))
		checkLine(t, l, map[string]string{"decision": "deny", "upstream": ""}, "")
	}
	s.decoyGotNothing(t, false, dsts...)
}

func (s *suite) udpToDecoy(t *testing.T) {
	dsts := []string{s.tp.decoy.port(4, udpPort), s.tp.decoy.port(6, udpPort), s.tp.decoy.port(4, dnsPort), s.tp.decoy.port(6, dnsPort)}
	for _, dst := range dsts {
		r := s.app(t, action{Kind: "udp", Addr: dst, Payload: "a datagram that must not leave the pod"})
		if r.Received != "" {
			t.Errorf("UDP to %s: received %q, want nothing", dst, r.Received)
		}
		t.Logf("UDP to %s: client saw %q", dst, r.Err)
	}
	s.decoyGotNothing(t, true, dsts...)
}

func (s *suite) dnsToResolver(t *testing.T) {
	dst := s.tp.resolver.port(4, dnsPort)
	payload := "a query to the pod's resolver"
	if r := s.app(t, action{Kind: "udp", Addr: dst, Payload: payload}); r.Err != "" {
		t.Errorf("UDP to the resolver %s: %s", dst, r.Err)
	}
	for deadline := time.Now().Add(stateWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, d := range s.world.report(t).Datagrams {
			if string(d.Data) == payload && sameAddrPort(d.Local, dst) {
				return
			}
		}
	}
	t.Errorf("the resolver at %s did not receive the app's datagram within %s", dst, stateWait)
}

func (s *suite) loop(t *testing.T) {
	for _, door := range []string{"127.0.0.1:15001", "[::1]:15001"} {
		from := s.amb.mark()
		r := s.app(t, action{Kind: "http", Addr: door, Host: "allowed.test", Path: "/loop"})
		if r.Status == http.StatusOK {
			t.Errorf("GET straight to the capture port %s: %+v, want it denied", door, r)
		}
		l := s.amb.waitAudit(t, from, "the connection to "+door, func(l auditLine) bool {
			return l.str("door") == "transparent" && l.str("decision") == "deny" && strings.Contains(l.str("reason"), "loop")
		})
		checkLine(t, l, map[string]string{"upstream": ""}, "loop")
	}
	s.allowedHTTP(t)
}

func (s *suite) initTwice(t *testing.T) {
	first := s.tp.ruleset(t)
	if !strings.Contains(first, "table inet meshlite") {
		t.Fatalf("the pod's ruleset has no table inet meshlite:\n%s", first)
	}
	s.tp.initCapture(t, s.bins)
	if again := s.tp.ruleset(t); again != first {
		t.Errorf("ruleset after a second init:\n%s\nwant it as after the first:\n%s", again, first)
	}
}

func (s *suite) cleanup(t *testing.T) {
	s.tp.initCapture(t, s.bins, "--cleanup")
	if got := s.tp.ruleset(t); got != s.before {
		t.Errorf("ruleset after --cleanup:\n%s\nwant it as before init:\n%s", got, s.before)
	}
}

// TestSelfCheckWrongProxyUID starts the ambassador as a user the capture
// does not exempt: its own connections would loop, so the self-check must
// fail and /readyz say which flag to fix.
func TestSelfCheckWrongProxyUID(t *testing.T) {
	testnet.RequireNetns(t, "ip", "nft", "setpriv")
	tp := newTopology(t)
	bins := buildBinaries(t)
	tp.initCapture(t, bins, "--proxy-uid", strconv.Itoa(proxyUID), "--proxy-gid", strconv.Itoa(proxyUID))
	amb := tp.startAmbassador(bins, proxyUID+1, tp.captureTable())
	r := tp.runClient(t, bins, appUID, action{Kind: "readyz", Addr: adminAddr, WantStatus: http.StatusServiceUnavailable, WantBody: "--proxy-uid"})
	if r.Status != http.StatusServiceUnavailable || !strings.Contains(r.Body, "--proxy-uid") {
		t.Errorf("/readyz of an ambassador running as %d with the capture for %d: %+v, want 503 naming --proxy-uid", proxyUID+1, proxyUID, r)
	}
	if t.Failed() {
		t.Logf("audit: %s", amb.stdout)
	}
}
