package contender

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func TestDNSServerAnswersLikeAClusterDNS(t *testing.T) {
	s, err := startDNSServer("127.0.0.1", PodUpstreamName, netip.MustParseAddr("198.18.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		network string
		rcode   int
		answer  string // the A record's address; "" = no answer, an SOA instead
	}{
		{"the name's address over UDP", PodUpstreamName, dns.TypeA, "udp", dns.RcodeSuccess, "198.18.0.1"},
		{"the name's address over TCP", PodUpstreamName, dns.TypeA, "tcp", dns.RcodeSuccess, "198.18.0.1"},
		{"no IPv6 address", PodUpstreamName, dns.TypeAAAA, "udp", dns.RcodeSuccess, ""},
		{"a search-list name does not exist", PodUpstreamName + ".svc.cluster.local", dns.TypeA, "udp", dns.RcodeNameError, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(dns.Fqdn(tc.qname), tc.qtype)
			m, _, err := (&dns.Client{Net: tc.network}).Exchange(q, s.addr)
			if err != nil {
				t.Fatal(err)
			}
			if m.Rcode != tc.rcode {
				t.Fatalf("rcode %s, want %s", dns.RcodeToString[m.Rcode], dns.RcodeToString[tc.rcode])
			}
			if tc.answer == "" {
				if len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].(*dns.SOA).Minttl != nameTTL {
					t.Fatalf("answer %v authority %v, want none and an SOA", m.Answer, m.Ns)
				}
				return
			}
			if len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != tc.answer || m.Answer[0].Header().Ttl != nameTTL {
				t.Fatalf("answer %v, want %s TTL %d", m.Answer, tc.answer, nameTTL)
			}
		})
	}
	if n := s.queries.Load(); n != int64(len(tests)) {
		t.Errorf("server counted %d queries, want %d", n, len(tests))
	}
}
