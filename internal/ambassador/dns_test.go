package ambassador

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// countingDNS is a DNS server on loopback (UDP) that answers every A
// question with 127.0.0.1 (TTL 60s) and every other with no records, and
// counts the A questions.
func countingDNS(t *testing.T) (addr string, asked *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	asked = &atomic.Int64{}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		if q := req.Question[0]; q.Qtype == dns.TypeA {
			asked.Add(1)
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A:   net.IPv4(127, 0, 0, 1),
			}}
		}
		w.WriteMsg(m)
	})}
	go srv.ActivateAndServe()
	t.Cleanup(func() { srv.Shutdown() })
	return pc.LocalAddr().String(), asked
}

// TestRunResolvesWithTheConfiguredResolver: the ambassador asks the name
// servers of --resolv-conf, keeps the answer with --dns-cache, and asks
// for every request without it. The name resolves to loopback, which the
// guard denies, and the reason shows the answer was used.
func TestRunResolvesWithTheConfiguredResolver(t *testing.T) {
	for _, cache := range []bool{true, false} {
		addr, asked := countingDNS(t)
		cfg, door := testConfig(t, `apiVersion: meshlite/v1
kind: RouteTable
metadata: {name: dns}
spec:
  egress:
    - {name: svc, host: api.svc.test, ports: [80]}
`)
		cfg.ResolvConf = filepath.Join(t.TempDir(), "resolv.conf")
		if err := os.WriteFile(cfg.ResolvConf, []byte("nameserver "+addr+"\noptions ndots:1\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.DNSCache = cache
		start(t, cfg, door)
		for range 2 {
			status, _, body := rawProxyGet(t, cfg.Listen, "http://api.svc.test/")
			if status != http.StatusForbidden || !strings.Contains(body, `"api.svc.test" resolves to 127.0.0.1`) {
				t.Fatalf("cache %v: %d %q, want 403 naming the answer", cache, status, body)
			}
		}
		want := map[bool]int64{true: 1, false: 2}[cache]
		if n := asked.Load(); n != want {
			t.Errorf("cache %v: two requests asked %d times, want %d", cache, n, want)
		}
	}
}
