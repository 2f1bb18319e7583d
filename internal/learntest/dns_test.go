package learntest

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/meshlite/meshlite/internal/testnet"
)

// nameServer is a name server on loopback (UDP and TCP on one port) that
// answers A queries for the names in zone (lower case, no trailing dot),
// an empty answer for their other types and NXDOMAIN for every other name.
// It returns a resolv.conf naming it, for the ambassador's --resolv-conf.
func nameServer(t *testing.T, zone map[string]netip.Addr) string {
	t.Helper()
	pc, ln := testnet.ListenUDPAndTCP(t)
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		name := strings.ToLower(q.Question[0].Name)
		addr, ok := zone[strings.TrimSuffix(name, ".")]
		switch {
		case !ok:
			m.Rcode = dns.RcodeNameError
		case q.Question[0].Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
				A: net.IP(addr.AsSlice())})
		}
		w.WriteMsg(m)
	})
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+pc.LocalAddr().String()+"\noptions ndots:1 timeout:2 attempts:2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return conf
}
