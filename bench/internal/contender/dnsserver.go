package contender

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
)

// dnsServer is an authoritative-looking DNS server for the name-target
// contenders, on UDP and TCP at one address: it answers one name's A
// question with one address (TTL nameTTL), that name's AAAA question with
// no records, and every other name NXDOMAIN, each empty answer with an SOA
// whose minimum is nameTTL, as a cluster DNS server does for the search
// names an external name is tried with.
type dnsServer struct {
	addr    string // host:port
	name    string // FQDN, lower case
	ip      netip.Addr
	queries atomic.Int64
	udp     *dns.Server
	tcp     *dns.Server
}

// nameTTL is the TTL of every answer, positive and negative.
const nameTTL = 30

// startDNSServer serves name → ip on host (port chosen by the system).
func startDNSServer(host, name string, ip netip.Addr) (*dnsServer, error) {
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	// the UDP port the system picks may be taken for TCP: try another
	for range 50 {
		if pc, err = net.ListenPacket("udp", net.JoinHostPort(host, "0")); err != nil {
			return nil, err
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		return nil, err
	}
	s := &dnsServer{addr: pc.LocalAddr().String(), name: dns.Fqdn(strings.ToLower(name)), ip: ip}
	h := dns.HandlerFunc(s.serve)
	s.udp = &dns.Server{PacketConn: pc, Handler: h}
	s.tcp = &dns.Server{Listener: ln, Handler: h}
	go s.udp.ActivateAndServe()
	go s.tcp.ActivateAndServe()
	return s, nil
}

func (s *dnsServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	q := req.Question[0]
	switch {
	case !strings.EqualFold(q.Name, s.name):
		m.Rcode = dns.RcodeNameError
	case q.Qtype == dns.TypeA:
		m.Answer = []dns.RR{&dns.A{
			Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: nameTTL},
			A:   s.ip.AsSlice(),
		}}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{&dns.SOA{
			Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: nameTTL},
			Ns:  "ns.bench.", Mbox: "admin.bench.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: nameTTL,
		}}
	}
	_ = w.WriteMsg(m)
}

// Close stops both listeners.
func (s *dnsServer) Close() error {
	return errors.Join(s.udp.Shutdown(), s.tcp.Shutdown())
}
