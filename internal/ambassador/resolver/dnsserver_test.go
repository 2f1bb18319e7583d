package resolver

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/meshlite/meshlite/internal/testnet"
)

// zone is what the test server answers for one name.
type zone struct {
	a, aaaa  []string
	ttl      uint32
	nxdomain bool
	soaMin   uint32 // with nxdomain or no records: an SOA with this minimum; 0 = none
	servfail bool
	truncate bool          // UDP replies are truncated (the client must retry over TCP)
	hold     chan struct{} // when set, the reply waits until it is closed
	drop     bool          // never reply
}

// query is one question the server received.
type query struct {
	name  string
	qtype uint16
	net   string // "udp" or "tcp"
}

// dnsServer is a real DNS server on 127.0.0.1, UDP and TCP on one port.
type dnsServer struct {
	addr  string
	mu    sync.Mutex
	zones map[string]zone // by FQDN, lower case
	log   []query
}

func startDNS(t *testing.T, zones map[string]zone) *dnsServer {
	t.Helper()
	s := &dnsServer{zones: map[string]zone{}}
	for n, z := range zones {
		s.zones[dns.Fqdn(strings.ToLower(n))] = z
	}
	pc, ln := testnet.ListenUDPAndTCP(t)
	s.addr = pc.LocalAddr().String()
	h := dns.HandlerFunc(s.serve)
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() {
		udp.Shutdown()
		tcp.Shutdown()
	})
	return s
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	rec := query{name: strings.ToLower(q.Name), qtype: q.Qtype, net: w.RemoteAddr().Network()}
	s.mu.Lock()
	z, ok := s.zones[rec.name]
	s.log = append(s.log, rec)
	s.mu.Unlock()
	if z.hold != nil {
		<-z.hold
	}
	if z.drop {
		return
	}
	m := new(dns.Msg)
	m.SetReply(req)
	switch {
	case !ok || z.nxdomain:
		m.Rcode = dns.RcodeNameError
	case z.servfail:
		m.Rcode = dns.RcodeServerFailure
	case z.truncate && rec.net == "udp":
		m.Truncated = true
	default:
		m.Answer = z.records(q)
	}
	if len(m.Answer) == 0 && z.soaMin > 0 {
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns:  "ns.test.", Mbox: "admin.test.", Serial: 1, Refresh: 60, Retry: 60, Expire: 60, Minttl: z.soaMin,
		}}
	}
	w.WriteMsg(m)
}

func (z zone) records(q dns.Question) []dns.RR {
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: z.ttl}
	var out []dns.RR
	switch q.Qtype {
	case dns.TypeA:
		for _, a := range z.a {
			out = append(out, &dns.A{Hdr: hdr, A: net.ParseIP(a)})
		}
	case dns.TypeAAAA:
		for _, a := range z.aaaa {
			out = append(out, &dns.AAAA{Hdr: hdr, AAAA: net.ParseIP(a)})
		}
	}
	return out
}

// asked returns the names asked for with qtype, in order, and how.
func (s *dnsServer) asked(qtype uint16) (names, nets []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.log {
		if q.qtype == qtype {
			names = append(names, strings.TrimSuffix(q.name, "."))
			nets = append(nets, q.net)
		}
	}
	return names, nets
}

// count is how many A queries name received.
func (s *dnsServer) count(name string) int {
	names, _ := s.asked(dns.TypeA)
	n := 0
	for _, x := range names {
		if x == name {
			n++
		}
	}
	return n
}

// options writes a resolv.conf naming s (with its port) and the given
// extra lines, and an empty hosts file, and returns Options for them.
func (s *dnsServer) options(t *testing.T, lines ...string) Options {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "resolv.conf")
	body := "nameserver " + s.addr + "\n" + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	hosts := filepath.Join(dir, "hosts")
	if err := os.WriteFile(hosts, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{ResolvConf: conf, Hosts: hosts}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// clock is a settable clock for TTL tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Unix(1_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
