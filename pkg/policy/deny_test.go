package policy

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseDenyCIDRs(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want []DenyCIDR
		errs []string // "path: message substring", in order
	}{
		{name: "none", in: nil, want: []DenyCIDR{}},
		{name: "IPv4 and IPv6 with spaces", in: []string{"10.0.0.0/8", " fd00::/8 ", "203.0.113.7/32"}, want: []DenyCIDR{
			{netip.MustParsePrefix("10.0.0.0/8"), "--deny-cidrs[0]"},
			{netip.MustParsePrefix("fd00::/8"), "--deny-cidrs[1]"},
			{netip.MustParsePrefix("203.0.113.7/32"), "--deny-cidrs[2]"},
		}},
		{name: "IPv4-mapped form is the IPv4 range", in: []string{"::ffff:10.0.0.0/104"}, want: []DenyCIDR{
			{netip.MustParsePrefix("10.0.0.0/8"), "--deny-cidrs[0]"},
		}},
		{name: "not a prefix", in: []string{"10.0.0.0/8", "ten"},
			errs: []string{`--deny-cidrs[1]: cidr "ten" is not a prefix (write it like "10.0.0.0/8"`}},
		{name: "bare address", in: []string{"203.0.113.7"},
			errs: []string{`--deny-cidrs[0]: cidr "203.0.113.7" is an address, not a prefix (write "203.0.113.7/32")`}},
		{name: "bare IPv6 address", in: []string{"2001:db8::1"},
			errs: []string{`--deny-cidrs[0]: cidr "2001:db8::1" is an address, not a prefix (write "2001:db8::1/128")`}},
		{name: "host bits", in: []string{"10.1.2.3/8"},
			errs: []string{`--deny-cidrs[0]: cidr "10.1.2.3/8" has host bits set (write the masked form "10.0.0.0/8")`}},
		{name: "empty entry", in: []string{"10.0.0.0/8", ""},
			errs: []string{`--deny-cidrs[1]: empty entry`}},
		{name: "every bad entry is reported", in: []string{"x", "10.0.0.0/8", "1.2.3.4/40"},
			errs: []string{`--deny-cidrs[0]: cidr "x"`, `--deny-cidrs[2]: cidr "1.2.3.4/40" is not a prefix`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := ParseDenyCIDRs("--deny-cidrs", tt.in)
			if len(errs) != len(tt.errs) {
				t.Fatalf("errors %v, want %d", errs, len(tt.errs))
			}
			for i, e := range errs {
				if !strings.Contains(e.Error(), tt.errs[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e, tt.errs[i])
				}
			}
			if len(tt.errs) > 0 {
				if got != nil {
					t.Fatalf("result %v with errors, want nil", got)
				}
				return
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestDecideDenyCIDRs(t *testing.T) {
	flag, errs := ParseDenyCIDRs("--deny-cidrs", []string{"203.0.113.0/24", "127.0.0.0/8"})
	table, errs2 := ParseDenyCIDRs("spec.denyCidrs", []string{"10.20.0.0/16", "2001:db8:dead::/48"})
	if len(errs)+len(errs2) > 0 {
		t.Fatal(errs, errs2)
	}
	res := staticResolver{
		"api.example":         addrs("203.0.113.10"),
		"db.example":          addrs("10.20.1.1"),
		"ok.example":          addrs("10.30.1.1"),
		"mixed.example":       addrs("93.184.216.34", "10.20.9.9"),
		"v6.example":          addrs("2001:db8:dead::1"),
		"mapped.example":      addrs("::ffff:203.0.113.11"),
		"nat64.example":       addrs("64:ff9b::cb00:710c"), // 203.0.113.12
		"6to4.example":        addrs("2002:a14:101::1"),    // 10.20.1.1
		"x.wild.example":      addrs("10.20.2.2"),
		"unknown.example":     addrs("203.0.113.13"),
		"localhost":           addrs("127.0.0.1", "::1"),
		"public.wild.example": addrs("93.184.216.34"),
	}
	rules := []Rule{
		{Name: "api", Host: "api.example", Ports: ports(443)},
		{Name: "db", Host: "db.example", Ports: ports(5432)},
		{Name: "ok", Host: "ok.example", Ports: ports(5432)},
		{Name: "mixed", Host: "mixed.example", Ports: ports(443)},
		{Name: "v6", Host: "v6.example", Ports: ports(443)},
		{Name: "mapped", Host: "mapped.example", Ports: ports(443)},
		{Name: "nat64", Host: "nat64.example", Ports: ports(443)},
		{Name: "6to4", Host: "6to4.example", Ports: ports(443)},
		{Name: "wild", Host: "*.wild.example", Ports: ports(443), AllowPrivate: true},
		{Name: "nets", CIDRs: []string{"0.0.0.0/0", "::/0"}, Ports: ports(443)},
	}
	denied := func(name string, req Request, rule, reason string) decideCase {
		return decideCase{name: name, req: req, result: Deny, rule: rule, reason: reason}
	}
	common := []decideCase{
		denied("exact rule, flag range", get("api.example", 443, "/"), "api",
			`"api.example" resolves to 203.0.113.10, inside 203.0.113.0/24 from --deny-cidrs[0] (always denied`),
		denied("exact private host, table range", get("db.example", 5432, "/"), "db",
			"10.20.1.1, inside 10.20.0.0/16 from spec.denyCidrs[0]"),
		denied("one address of a mixed answer", get("mixed.example", 443, "/"), "mixed", "10.20.9.9, inside 10.20.0.0/16"),
		denied("IPv6 range", get("v6.example", 443, "/"), "v6", "2001:db8:dead::1, inside 2001:db8:dead::/48 from spec.denyCidrs[1]"),
		denied("IPv4-mapped answer", get("mapped.example", 443, "/"), "mapped",
			"::ffff:203.0.113.11, an IPv6 form (IPv4-mapped) of 203.0.113.11, inside 203.0.113.0/24 from --deny-cidrs[0]"),
		denied("NAT64 answer", get("nat64.example", 443, "/"), "nat64",
			"an IPv6 form (NAT64) of 203.0.113.12, inside 203.0.113.0/24 from --deny-cidrs[0]"),
		denied("6to4 answer", get("6to4.example", 443, "/"), "6to4", "an IPv6 form (6to4) of 10.20.1.1, inside 10.20.0.0/16"),
		denied("wildcard rule with allowPrivate", get("x.wild.example", 443, "/"), "wild", "inside 10.20.0.0/16"),
		denied("cidrs rule literal", get("203.0.113.99", 443, "/"), "nets", "203.0.113.99 is inside 203.0.113.0/24 from --deny-cidrs[0]"),
		denied("CONNECT through a cidrs rule", connect("10.20.3.3", 443), "nets", "inside 10.20.0.0/16 from spec.denyCidrs[0]"),
		denied("route to a name", routed("rt", "db.example", 80), "route:rt", "inside 10.20.0.0/16"),
		denied("route to a literal", routed("rt", "203.0.113.5", 80), "route:rt", "inside 203.0.113.0/24"),
		denied("route to localhost, loopback denied by the list", routed("local", "localhost", 8080), "route:local",
			`"localhost" resolves to 127.0.0.1, inside 127.0.0.0/8 from --deny-cidrs[1]`),
		{name: "outside every range", req: get("ok.example", 5432, "/"), result: Allow, rule: "ok", reason: "allowed", addrs: []string{"10.30.1.1"}},
		{name: "public under the wildcard", req: get("public.wild.example", 443, "/"), result: Allow, rule: "wild", reason: "allowed"},
	}
	for _, mode := range []Mode{Enforce, Report} {
		t.Run(string(mode), func(t *testing.T) {
			p, err := Compile(mode, rules, Options{Resolver: res, Deny: append(flag, table...)})
			if err != nil {
				t.Fatal(err)
			}
			cases := common
			if mode == Report {
				cases = append(cases[:len(cases):len(cases)],
					denied("name no rule knows", get("unknown.example", 443, "/"), "", "203.0.113.13, inside 203.0.113.0/24 from --deny-cidrs[0]"),
					denied("rule's port mismatch", get("db.example", 80, "/"), "db", "inside 10.20.0.0/16"))
			}
			runDecide(t, p, cases)
		})
	}
}
