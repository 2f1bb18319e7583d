package faulttest

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meshlite/meshlite/internal/testnet"
)

// dnsServer is a name server on loopback (UDP and TCP on one port):
// "slow.test." answers 127.0.0.1 after delay, "fast.test." at once, every
// other name NXDOMAIN.
func dnsServer(t *testing.T, delay time.Duration) string {
	t.Helper()
	pc, ln := testnet.ListenUDPAndTCP(t)
	stop := make(chan struct{})
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := strings.ToLower(q.Question[0].Name)
		switch {
		case name == "slow.test." || name == "fast.test.":
			if name == "slow.test." {
				select { // the fault: a name server that takes this long
				case <-time.After(delay):
				case <-stop:
					return
				}
			}
			if q.Question[0].Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30}, A: net.IPv4(127, 0, 0, 1)})
			}
		default:
			m.Rcode = dns.RcodeNameError
		}
		w.WriteMsg(m)
	})
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { close(stop); udp.Shutdown(); tcp.Shutdown() })
	return pc.LocalAddr().String()
}

// TestSlowAndFailingDNS: the ambassador resolves through a name server on
// loopback (a pod's resolv.conf given with --resolv-conf: search domains,
// ndots:5). A lookup slower than the route's timeout ends in 504 within
// that timeout, never in an answer after it; a name that does not exist is
// 502; a name that answers at once is resolved and its answer checked (it
// is loopback, which the guard denies to a name: 403). Every request
// leaves its line.
func TestSlowAndFailingDNS(t *testing.T) {
	const flag = "resolv-conf"
	const n = 4
	up := okUpstream(t, "ok")
	_, upPort, _ := net.SplitHostPort(strings.TrimPrefix(up, "http://"))
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+dnsServer(t, 3*time.Second)+
		"\nsearch ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:5 attempts:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	slow, fast, missing := testnet.FreePort(t), testnet.FreePort(t), testnet.FreePort(t)
	a := startAmbassador(t, ambOptions{extra: []string{"--" + flag, conf}, routes: tableFile(t, routeTable(
		routeSpec{name: "slow", port: slow, target: "http://slow.test.:" + upPort, extra: "timeout: 1s"},
		routeSpec{name: "fast", port: fast, target: "http://fast.test.:" + upPort, extra: "timeout: 1s"},
		routeSpec{name: "missing", port: missing, target: "http://missing.test.:" + upPort, extra: "timeout: 1s"},
	))})

	cases := []struct {
		port int
		want int
	}{{fast, http.StatusForbidden}, {slow, http.StatusGatewayTimeout}, {missing, http.StatusBadGateway}}
	answered := 0
	for _, c := range cases {
		res := startLoad(door(c.port), 2, n).wait()
		if res.answered != n || res.byStatus[c.want] != n {
			t.Errorf("door %d: %d answered %v, want %d × %d; first failure %s", c.port, res.answered, res.byStatus, n, c.want, res.firstFail)
		}
		answered += res.answered
	}
	k := a.settle(t, answered)
	checkIntegrity(t, "slow and failing DNS", answered, k, a.stop(t))
}

// TestDNSServerHelperAnswers checks the name server the DNS fault uses, so
// that the fault test fails for the ambassador's reasons only.
func TestDNSServerHelperAnswers(t *testing.T) {
	addr := dnsServer(t, time.Minute)
	c := &dns.Client{Timeout: 5 * time.Second}
	for _, tc := range []struct {
		name  string
		rcode int
		ips   int
	}{{"fast.test.", dns.RcodeSuccess, 1}, {"missing.test.", dns.RcodeNameError, 0}} {
		q := new(dns.Msg)
		q.SetQuestion(tc.name, dns.TypeA)
		r, _, err := c.Exchange(q, addr)
		if err != nil || r.Rcode != tc.rcode || len(r.Answer) != tc.ips {
			t.Errorf("%s: %v, %v; want rcode %d with %d answers", tc.name, r, err, tc.rcode, tc.ips)
		}
	}
}
