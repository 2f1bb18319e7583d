package policy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

var testRules = []Rule{
	{Name: "google-apis", Host: "*.googleapis.com", Ports: ports(443)},
	{Name: "example-subdomains", Host: "*.example.com", Ports: ports(443)},
	{Name: "timecheck-health", Host: "timecheck", Ports: ports(8080), Methods: []string{"GET"}, Paths: []string{"/healthz"}},
	{Name: "api", Host: "API.Example.org.", Ports: []PortRange{{443, 443}, {8000, 8100}}},
	{Name: "buecher", Host: "bücher.example", Ports: ports(443)},
	{Name: "cafe", Host: "xn--caf-dma.example", Ports: ports(443)},
	{Name: "meta", Host: "meta.example", Ports: ports(80)},
	{Name: "db", Host: "db.internal.example", Ports: ports(5432)},
	{Name: "test-wildcard", Host: "*.test.example", Ports: ports(80)},
	{Name: "svc-wildcard", Host: "*.svc.example", Ports: ports(80)},
	{Name: "corp-wildcard", Host: "*.corp.example", Ports: ports(80), AllowPrivate: true},
	{Name: "mixed", Host: "mixed.example", Ports: ports(443)},
	{Name: "conn-get", Host: "conn.example.net", Ports: ports(443), Methods: []string{"GET"}},
	{Name: "conn-paths", Host: "paths.example.net", Ports: ports(443), Paths: []string{"/v1"}},
	{Name: "tunnel", Host: "tunnel.example.net", Ports: ports(443)},
	{Name: "nets", CIDRs: []string{"10.0.0.0/8", "100.64.0.0/10", "fd00::/8"}, Ports: ports(443)},
	{Name: "any-v4", CIDRs: []string{"0.0.0.0/0"}, Ports: ports(8443)},
	{Name: "low-v6", CIDRs: []string{"::/1"}, Ports: ports(8443)},
}

var testResolver = staticResolver{
	"a.b.example.com":            addrs("93.184.216.34"),
	"www.example.com":            addrs("93.184.216.34"),
	"example.com":                addrs("93.184.216.34"),
	"storage.googleapis.com":     addrs("142.250.0.1", "2607:f8b0::1"),
	"timecheck":                  addrs("10.0.0.20"),
	"api.example.org":            addrs("93.184.216.35"),
	"xn--bcher-kva.example":      addrs("93.184.216.36"),
	"xn--caf-dma.example":        addrs("93.184.216.37"),
	"meta.example":               addrs("169.254.169.254"),
	"db.internal.example":        addrs("10.0.0.5"),
	"x.svc.example":              addrs("10.0.0.6"),
	"x.corp.example":             addrs("10.0.0.7"),
	"mixed.example":              addrs("93.184.216.34", "169.254.169.254"),
	"split.test.example":         addrs("93.184.216.34", "10.1.1.1"),
	"mapped.test.example":        addrs("::ffff:169.254.169.254"),
	"mapped-public.test.example": addrs("::ffff:93.184.216.34", "2606:4700::1"),
	"nat64.test.example":         addrs("64:ff9b::a9fe:a9fe"),
	"6to4.test.example":          addrs("2002:a9fe:a9fe::"),
	"teredo.test.example":        addrs("2001:0:808:808:8000:ffff:5601:5601"),
	"teredo-srv.test.example":    addrs("2001:0:a9fe:a9fe::f7f7:f7f7"),
	"loop.test.example":          addrs("127.0.0.1"),
	"loop6.test.example":         addrs("::1"),
	"zero.test.example":          addrs("0.0.0.0"),
	"cgnat.test.example":         addrs("100.64.0.1"),
	"below-cgnat.test.example":   addrs("100.63.255.254"),
	"above-cgnat.test.example":   addrs("100.128.0.1"),
	"rfc1918.test.example":       addrs("192.168.1.10"),
	"ula.test.example":           addrs("fd00::10"),
	"empty.test.example":         {},
	"conn.example.net":           addrs("93.184.216.40"),
	"paths.example.net":          addrs("93.184.216.41"),
	"tunnel.example.net":         addrs("93.184.216.42"),
	"localhost":                  addrs("127.0.0.1", "::1"),
	"svc.cluster":                addrs("10.96.0.10"),
	"evil.example":               addrs("93.184.216.99"),
	"evilmeta.example":           addrs("169.254.169.254"),
	"evilpriv.example":           addrs("10.9.9.9"),
}

var testSelf = []netip.AddrPort{
	netip.MustParseAddrPort("127.0.0.1:1080"),
	netip.MustParseAddrPort("0.0.0.0:9901"),
	netip.MustParseAddrPort("10.0.0.9:15001"),
}

func mustCompile(t testing.TB, mode Mode, rules []Rule) *Policy {
	t.Helper()
	p, err := Compile(mode, rules, Options{Resolver: testResolver, Self: testSelf})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

type decideCase struct {
	name   string
	req    Request
	result Result
	reason string   // substring of Decision.Reason
	rule   string   // exact Decision.Rule
	addrs  []string // for Allow/WouldDeny: exact Decision.Addrs; nil skips the check
	host   string   // exact Decision.Host when set
}

func get(host string, port uint16, path string) Request {
	return Request{Host: host, Port: port, Method: "GET", Path: path}
}

func connect(host string, port uint16) Request { return Request{Host: host, Port: port, Connect: true} }

func routed(route, host string, port uint16) Request {
	r := get(host, port, "/")
	r.Route = route
	return r
}

func runDecide(t *testing.T, p *Policy, tests []decideCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := p.Decide(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Decide(%+v) error: %v", tt.req, err)
			}
			if d.Result != tt.result || !strings.Contains(d.Reason, tt.reason) || d.Rule != tt.rule {
				t.Fatalf("Decide(%+v) = %s, rule %q, reason %q;\nwant %s, rule %q, reason containing %q",
					tt.req, d.Result, d.Rule, d.Reason, tt.result, tt.rule, tt.reason)
			}
			if strings.ContainsAny(d.Reason, "\r\n") {
				t.Fatalf("reason %q is not one line", d.Reason)
			}
			if d.Result == Deny && len(d.Addrs) != 0 {
				t.Fatalf("a Deny carries addresses %v", d.Addrs)
			}
			if tt.addrs != nil && !slices.Equal(d.Addrs, addrs(tt.addrs...)) {
				t.Fatalf("Addrs = %v, want %v", d.Addrs, tt.addrs)
			}
			if tt.host != "" && d.Host != tt.host {
				t.Fatalf("Host = %q, want %q", d.Host, tt.host)
			}
		})
	}
}

func TestDecideAllowlist(t *testing.T) {
	p := mustCompile(t, Enforce, testRules)
	runDecide(t, p, []decideCase{
		{name: "exact host", req: get("api.example.org", 443, "/"), result: Allow, rule: "api",
			reason: `allowed by rule "api"`, addrs: []string{"93.184.216.35"}, host: "api.example.org"},
		{name: "exact host, port inside a range", req: get("api.example.org", 8050, "/"), result: Allow, rule: "api", reason: "allowed"},
		{name: "exact host, port outside the rule names the rule", req: get("api.example.org", 22, "/"), result: Deny, rule: "api",
			reason: `rule "api" allows api.example.org only on ports 443, 8000-8100, not 22`},
		{name: "mixed case and trailing dot", req: get("API.Example.ORG.", 443, "/"), result: Allow, rule: "api", reason: "allowed", host: "api.example.org"},
		{name: "unknown host is denied by default", req: get("evil.example", 443, "/"), result: Deny, rule: "",
			reason: `no egress rule allows "evil.example:443" (denied by default; add a rule to spec.egress)`},
		{name: "wildcard matches one level", req: get("www.example.com", 443, "/"), result: Allow, rule: "example-subdomains", reason: "allowed"},
		{name: "wildcard matches any depth", req: get("a.b.example.com", 443, "/"), result: Allow, rule: "example-subdomains", reason: "allowed"},
		{name: "wildcard never matches the apex", req: get("example.com", 443, "/"), result: Deny, rule: "",
			reason: `no egress rule allows "example.com:443"`},
		{name: "wildcard is label-aligned", req: get("evilexample.com", 443, "/"), result: Deny, rule: "", reason: "no egress rule allows"},
		{name: "wildcard with upper case and trailing dot", req: get("Storage.GoogleAPIs.com.", 443, "/"), result: Allow,
			rule: "google-apis", reason: "allowed", addrs: []string{"142.250.0.1", "2607:f8b0::1"}, host: "storage.googleapis.com"},
		{name: "wildcard, wrong port", req: get("www.example.com", 80, "/"), result: Deny, rule: "example-subdomains",
			reason: `allows www.example.com only on port 443, not 80`},
		{name: "IDN request, rule written in Unicode", req: get("bücher.example", 443, "/"), result: Allow, rule: "buecher",
			reason: "allowed", host: "xn--bcher-kva.example"},
		{name: "punycode request, rule written in Unicode", req: get("xn--bcher-kva.example", 443, "/"), result: Allow, rule: "buecher", reason: "allowed"},
		{name: "IDN request, rule written in punycode", req: get("CAFÉ.example", 443, "/"), result: Allow, rule: "cafe", reason: "allowed", host: "xn--caf-dma.example"},
		{name: "punycode request, rule written in punycode", req: get("XN--CAF-DMA.example.", 443, "/"), result: Allow, rule: "cafe", reason: "allowed"},
		{name: "method and path allowed", req: get("timecheck", 8080, "/healthz"), result: Allow, rule: "timecheck-health",
			reason: "allowed", addrs: []string{"10.0.0.20"}},
		{name: "path segment below the prefix", req: get("timecheck", 8080, "/healthz/live"), result: Allow, rule: "timecheck-health", reason: "allowed"},
		{name: "wrong method", req: Request{Host: "timecheck", Port: 8080, Method: "POST", Path: "/healthz"}, result: Deny,
			rule: "timecheck-health", reason: `rule "timecheck-health" allows only GET to timecheck:8080, not "POST"`},
		{name: "wrong path", req: get("timecheck", 8080, "/admin"), result: Deny, rule: "timecheck-health",
			reason: `rule "timecheck-health" allows only paths /healthz on timecheck:8080, not "/admin"`},
		{name: "path prefix is segment-wise", req: get("timecheck", 8080, "/healthzx"), result: Deny, rule: "timecheck-health", reason: "allows only paths"},
		{name: "dot-dot cannot escape the path prefix", req: get("timecheck", 8080, "/healthz/../admin"), result: Deny,
			rule: "timecheck-health", reason: `not "/admin"`},
		{name: "CONNECT denied by a rule with methods", req: connect("conn.example.net", 443), result: Deny, rule: "conn-get",
			reason: `rule "conn-get" limits methods or paths, so it cannot allow a CONNECT tunnel to conn.example.net:443`},
		{name: "CONNECT denied by a rule with paths", req: connect("paths.example.net", 443), result: Deny, rule: "conn-paths", reason: "cannot allow a CONNECT tunnel"},
		{name: "plain GET allowed by the rule with methods", req: get("conn.example.net", 443, "/x"), result: Allow, rule: "conn-get", reason: "allowed"},
		{name: "CONNECT allowed by a rule without methods or paths", req: connect("tunnel.example.net", 443), result: Allow, rule: "tunnel",
			reason: `allowed by rule "tunnel"`, addrs: []string{"93.184.216.42"}},
		{name: "IPv4-mapped answer is unmapped for dialling", req: get("mapped-public.test.example", 80, "/"), result: Allow, rule: "test-wildcard",
			reason: "allowed", addrs: []string{"93.184.216.34", "2606:4700::1"}},
	})
}

func TestDecideLiteralIPs(t *testing.T) {
	p := mustCompile(t, Enforce, testRules)
	runDecide(t, p, []decideCase{
		{name: "private IPv4 inside cidrs", req: get("10.1.2.3", 443, "/"), result: Allow, rule: "nets", reason: `allowed by rule "nets"`,
			addrs: []string{"10.1.2.3"}, host: "10.1.2.3"},
		{name: "CGNAT inside cidrs", req: get("100.64.0.1", 443, "/"), result: Allow, rule: "nets", reason: "allowed"},
		{name: "ULA inside cidrs", req: get("[FD00::1]", 443, "/"), result: Allow, rule: "nets", reason: "allowed", host: "fd00::1"},
		{name: "IPv4-mapped literal matches an IPv4 cidr", req: get("::ffff:10.1.2.3", 443, "/"), result: Allow, rule: "nets",
			reason: "allowed", addrs: []string{"10.1.2.3"}},
		{name: "inside cidrs, wrong port", req: get("10.1.2.3", 80, "/"), result: Deny, rule: "nets", reason: `rule "nets" allows 10.1.2.3 only on port 443, not 80`},
		{name: "metadata address, even inside 0.0.0.0/0", req: get("169.254.169.254", 8443, "/"), result: Deny, rule: "any-v4",
			reason: "169.254.169.254 is a cloud metadata endpoint (always denied"},
		{name: "IPv4-mapped metadata literal", req: get("[::ffff:169.254.169.254]", 8443, "/"), result: Deny, rule: "any-v4",
			reason: "169.254.169.254 is a cloud metadata endpoint (always denied"},
		{name: "loopback 127.0.0.1", req: get("127.0.0.1", 8443, "/"), result: Deny, rule: "any-v4", reason: "127.0.0.1 is a loopback address (always denied"},
		{name: "loopback top of 127/8", req: get("127.255.255.254", 8443, "/"), result: Deny, rule: "any-v4", reason: "a loopback address"},
		{name: "IPv6 loopback", req: get("[::1]", 8443, "/"), result: Deny, rule: "low-v6", reason: "::1 is a loopback address"},
		{name: "unspecified 0.0.0.0", req: get("0.0.0.0", 8443, "/"), result: Deny, rule: "any-v4", reason: "0.0.0.0 is an unspecified address (always denied)"},
		{name: "broadcast", req: get("255.255.255.255", 8443, "/"), result: Deny, rule: "any-v4", reason: "a broadcast address (always denied)"},
		{name: "reserved", req: get("240.0.0.1", 8443, "/"), result: Deny, rule: "any-v4", reason: "a reserved address (always denied)"},
		{name: "multicast", req: get("224.0.0.251", 8443, "/"), result: Deny, rule: "any-v4", reason: "a multicast address (always denied)"},
		{name: "NAT64 literal embedding metadata", req: get("[64:ff9b::a9fe:a9fe]", 8443, "/"), result: Deny, rule: "low-v6",
			reason: "64:ff9b::a9fe:a9fe is an IPv6 form (NAT64) of 169.254.169.254, a cloud metadata endpoint (always denied"},
		{name: "6to4 literal embedding metadata", req: get("[2002:a9fe:a9fe::]", 8443, "/"), result: Deny, rule: "low-v6", reason: "(6to4) of 169.254.169.254"},
		{name: "Teredo literal embedding loopback client", req: get("[2001:0:808:808::80ff:fffe]", 8443, "/"), result: Deny, rule: "low-v6",
			reason: "(Teredo client) of 127.0.0.1, a loopback address"},
		{name: "public literal inside cidrs", req: get("93.184.216.34", 8443, "/"), result: Allow, rule: "any-v4", reason: "allowed"},
		{name: "literal IP not named by a host rule", req: get("fe80::1", 443, "/"), result: Deny, rule: "",
			reason: `no egress rule allows "[fe80::1]:443" (a literal IP destination needs a rule whose cidrs contain it)`},
	})
}

func TestDecideAddressGuard(t *testing.T) {
	p := mustCompile(t, Enforce, testRules)
	runDecide(t, p, []decideCase{
		{name: "name resolving to the metadata address", req: get("meta.example", 80, "/"), result: Deny, rule: "meta",
			reason: `"meta.example" resolves to 169.254.169.254, a cloud metadata endpoint (always denied`},
		{name: "one good and one metadata address", req: get("mixed.example", 443, "/"), result: Deny, rule: "mixed",
			reason: `"mixed.example" resolves to 169.254.169.254, a cloud metadata endpoint`},
		{name: "one public and one private under a wildcard", req: get("split.test.example", 80, "/"), result: Deny, rule: "test-wildcard",
			reason: `"split.test.example" resolves to 10.1.1.1, a private address (allowed only for hosts named exactly in a rule or route, or with allowPrivate: true on rule "test-wildcard")`},
		{name: "IPv4-mapped metadata answer", req: get("mapped.test.example", 80, "/"), result: Deny, rule: "test-wildcard",
			reason: "resolves to ::ffff:169.254.169.254, an IPv6 form (IPv4-mapped) of 169.254.169.254, a cloud metadata endpoint (always denied"},
		{name: "NAT64 metadata answer", req: get("nat64.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "(NAT64) of 169.254.169.254, a cloud metadata endpoint"},
		{name: "6to4 metadata answer", req: get("6to4.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "(6to4) of 169.254.169.254"},
		{name: "Teredo client metadata answer", req: get("teredo.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "(Teredo client) of 169.254.169.254"},
		{name: "Teredo server metadata answer", req: get("teredo-srv.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "(Teredo server) of 169.254.169.254"},
		{name: "loopback answer", req: get("loop.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "resolves to 127.0.0.1, a loopback address (always denied"},
		{name: "IPv6 loopback answer", req: get("loop6.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "resolves to ::1, a loopback address"},
		{name: "unspecified answer", req: get("zero.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "resolves to 0.0.0.0, an unspecified address"},
		{name: "RFC 1918 under a wildcard", req: get("rfc1918.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "192.168.1.10, a private address"},
		{name: "ULA under a wildcard", req: get("ula.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "fd00::10, a private address"},
		{name: "CGNAT under a wildcard", req: get("cgnat.test.example", 80, "/"), result: Deny, rule: "test-wildcard", reason: "100.64.0.1, a private address"},
		{name: "just below CGNAT is public", req: get("below-cgnat.test.example", 80, "/"), result: Allow, rule: "test-wildcard", reason: "allowed", addrs: []string{"100.63.255.254"}},
		{name: "just above CGNAT is public", req: get("above-cgnat.test.example", 80, "/"), result: Allow, rule: "test-wildcard", reason: "allowed", addrs: []string{"100.128.0.1"}},
		{name: "private under a wildcard without allowPrivate", req: get("x.svc.example", 80, "/"), result: Deny, rule: "svc-wildcard", reason: "10.0.0.6, a private address"},
		{name: "private under a wildcard with allowPrivate", req: get("x.corp.example", 80, "/"), result: Allow, rule: "corp-wildcard", reason: "allowed", addrs: []string{"10.0.0.7"}},
		{name: "private for an exact host", req: get("db.internal.example", 5432, "/"), result: Allow, rule: "db", reason: "allowed", addrs: []string{"10.0.0.5"}},
	})
}

func TestDecideReportMode(t *testing.T) {
	p := mustCompile(t, Report, testRules)
	runDecide(t, p, []decideCase{
		{name: "miss becomes would_deny with checked addresses", req: get("evil.example", 443, "/"), result: WouldDeny, rule: "",
			reason: `no egress rule allows "evil.example:443" (report mode: sent anyway`, addrs: []string{"93.184.216.99"}},
		{name: "port mismatch names the rule", req: get("api.example.org", 22, "/"), result: WouldDeny, rule: "api",
			reason: "not 22 (report mode: sent anyway)", addrs: []string{"93.184.216.35"}},
		{name: "miss resolving to metadata stays denied", req: get("evilmeta.example", 443, "/"), result: Deny, rule: "",
			reason: `"evilmeta.example" resolves to 169.254.169.254, a cloud metadata endpoint (always denied`},
		{name: "matched rule resolving to metadata stays denied", req: get("meta.example", 80, "/"), result: Deny, rule: "meta", reason: "cloud metadata endpoint"},
		{name: "mixed answer stays denied", req: get("mixed.example", 443, "/"), result: Deny, rule: "mixed", reason: "169.254.169.254"},
		{name: "private under a wildcard is would_deny", req: get("rfc1918.test.example", 80, "/"), result: WouldDeny, rule: "test-wildcard",
			reason: "a private address (allowed only", addrs: []string{"192.168.1.10"}},
		{name: "miss resolving to private is would_deny", req: get("evilpriv.example", 443, "/"), result: WouldDeny, rule: "",
			reason: "report mode: sent anyway", addrs: []string{"10.9.9.9"}},
		{name: "literal loopback stays denied", req: get("127.0.0.1", 443, "/"), result: Deny, rule: "any-v4", reason: "127.0.0.1 is a loopback address"},
		{name: "allowed stays allowed", req: get("api.example.org", 443, "/"), result: Allow, rule: "api", reason: "allowed"},
		{name: "own listener on a private address stays denied", req: routed("loop", "10.0.0.9", 15001), result: Deny, rule: "route:loop",
			reason: "10.0.0.9 is the ambassador's own listener 10.0.0.9:15001"},
	})
}

func TestDecideRoutes(t *testing.T) {
	p := mustCompile(t, Enforce, testRules)
	runDecide(t, p, []decideCase{
		{name: "mapped target on a private address", req: routed("rng", "svc.cluster", 80), result: Allow, rule: "route:rng",
			reason: `allowed by route "rng"`, addrs: []string{"10.96.0.10"}},
		{name: "mapped target not in any egress rule", req: routed("rng", "evil.example", 443), result: Allow, rule: "route:rng", reason: "allowed by route"},
		{name: "mapped private literal", req: routed("rng", "10.0.0.9", 80), result: Allow, rule: "route:rng", reason: "allowed", addrs: []string{"10.0.0.9"}},
		{name: "mapped localhost", req: routed("local", "localhost", 8080), result: Allow, rule: "route:local", reason: "allowed",
			addrs: []string{"127.0.0.1", "::1"}},
		{name: "mapped loopback literal", req: routed("local", "127.0.0.1", 8080), result: Allow, rule: "route:local", reason: "allowed"},
		{name: "mapped IPv6 loopback literal", req: routed("local", "[::1]", 8080), result: Allow, rule: "route:local", reason: "allowed"},
		{name: "mapped name resolving to loopback", req: routed("rng", "loop.test.example", 80), result: Deny, rule: "route:rng",
			reason: `"loop.test.example" resolves to 127.0.0.1, a loopback address (always denied; only a route whose target is itself loopback may reach it)`},
		{name: "mapped name resolving to metadata", req: routed("rng", "meta.example", 80), result: Deny, rule: "route:rng", reason: "169.254.169.254, a cloud metadata endpoint"},
		{name: "mapped metadata literal", req: routed("rng", "169.254.169.254", 80), result: Deny, rule: "route:rng", reason: "169.254.169.254 is a cloud metadata endpoint"},
		{name: "mapped NAT64 form of loopback is not loopback", req: routed("rng", "64:ff9b::7f00:1", 80), result: Deny, rule: "route:rng",
			reason: "(NAT64) of 127.0.0.1, a loopback address"},
		{name: "mapped to the ambassador's own proxy port", req: routed("loop", "localhost", 1080), result: Deny, rule: "route:loop",
			reason: `"localhost" resolves to 127.0.0.1, the ambassador's own listener 127.0.0.1:1080`},
		{name: "mapped to a wildcard-bound own port on loopback", req: routed("loop", "[::1]", 9901), result: Deny, rule: "route:loop",
			reason: "::1 is the ambassador's own listener 0.0.0.0:9901"},
		{name: "mapped to an own listener on the pod address", req: routed("loop", "10.0.0.9", 15001), result: Deny, rule: "route:loop",
			reason: "10.0.0.9 is the ambassador's own listener 10.0.0.9:15001"},
	})
}

func TestDecideInputAndResolveErrors(t *testing.T) {
	p := mustCompile(t, Enforce, testRules)
	tests := []struct {
		name    string
		req     Request
		wantIn  string // *InputError field, or "" for *ResolveError
		wantMsg string
	}{
		{name: "malformed host", req: get("exa mple.com", 443, "/"), wantIn: "host", wantMsg: "invalid character"},
		{name: "empty host", req: get("", 443, "/"), wantIn: "host", wantMsg: "empty host"},
		{name: "port zero", req: get("api.example.org", 0, "/"), wantIn: "port", wantMsg: "zero"},
		{name: "numeric IPv4 form", req: get("2852039166", 80, "/"), wantIn: "host", wantMsg: "non-standard form"},
		{name: "unknown name under a wildcard", req: get("nosuch.test.example", 80, "/"), wantMsg: "no such host"},
		{name: "empty answer", req: get("empty.test.example", 80, "/"), wantMsg: "no addresses"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := p.Decide(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("Decide error = %v, want one containing %q", err, tt.wantMsg)
			}
			var in *InputError
			var re *ResolveError
			switch {
			case tt.wantIn != "" && (!errors.As(err, &in) || in.Field != tt.wantIn):
				t.Fatalf("error %v is not an *InputError for %q", err, tt.wantIn)
			case tt.wantIn == "" && !errors.As(err, &re):
				t.Fatalf("error %v is not a *ResolveError", err)
			case tt.wantIn == "" && (d.Result != Deny || d.Rule != "test-wildcard" || len(d.Addrs) != 0):
				t.Fatalf("decision with a resolve error = %+v, want a Deny naming the rule", d)
			}
		})
	}
}

func TestDecideSystemResolverLocalhost(t *testing.T) {
	p, err := Compile(Enforce, nil, Options{Resolver: net.DefaultResolver})
	if err != nil {
		t.Fatal(err)
	}
	d, err := p.Decide(context.Background(), routed("local", "localhost", 8080))
	if err != nil {
		t.Fatalf("resolving localhost: %v", err)
	}
	if d.Result != Allow || d.Rule != "route:local" || len(d.Addrs) == 0 {
		t.Fatalf("mapped localhost = %+v, want Allow with addresses", d)
	}
	for _, a := range d.Addrs {
		if !a.IsLoopback() {
			t.Fatalf("localhost resolved to non-loopback %v", a)
		}
	}
	d, err = p.Decide(context.Background(), get("localhost", 8080, "/"))
	if err != nil || d.Result != Deny || !strings.Contains(d.Reason, `no egress rule allows "localhost:8080"`) {
		t.Fatalf("unmapped localhost = %+v, %v; want Deny by default", d, err)
	}
}
