package policy

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// metadataForms are IPv6 forms of 100.100.100.200 (Alibaba Cloud), which
// lies inside CGNAT 100.64.0.0/10 and so would otherwise be private.
var metadataForms = []struct{ addr, form string }{
	{"::ffff:100.100.100.200", "IPv4-mapped"},
	{"::6464:64c8", "IPv4-compatible"},
	{"::ffff:0:6464:64c8", "IPv4-translated"},
	{"64:ff9b::6464:64c8", "NAT64"},
	{"64:ff9b:1::6464:64c8", "NAT64"},
	{"64:ff9b:1:6464:64:c800::", "NAT64"},
	{"2002:6464:64c8::1", "6to4"},
	{"2001:0:6464:64c8::f7f7:f7f7", "Teredo server"},
	{"2001:0:808:808::9b9b:9b37", "Teredo client"},
}

func TestClassifyMetadata(t *testing.T) {
	for _, e := range MetadataEndpoints() {
		t.Run(e.Addr.String()+" "+e.Provider, func(t *testing.T) {
			if got := ClassifyAddr(e.Addr); got.Class != Metadata || got.Embedded.IsValid() {
				t.Fatalf("ClassifyAddr(%s) = %+v, want Metadata", e.Addr, got)
			}
			if !e.Addr.Is4() {
				return
			}
			mapped := netip.AddrFrom16(e.Addr.As16())
			if got := ClassifyAddr(mapped); got.Class != Metadata || got.Embedded != e.Addr {
				t.Fatalf("ClassifyAddr(%s) = %+v, want Metadata through %s", mapped, got, e.Addr)
			}
		})
	}
	for _, f := range metadataForms {
		t.Run(f.form+" "+f.addr, func(t *testing.T) {
			got := ClassifyAddr(netip.MustParseAddr(f.addr))
			if got.Class != Metadata || got.Embedded != netip.MustParseAddr("100.100.100.200") || got.Form != f.form {
				t.Fatalf("ClassifyAddr(%s) = %+v, want Metadata through 100.100.100.200 (%s)", f.addr, got, f.form)
			}
		})
	}
	neighbours := []struct {
		addr string
		want AddrClass
	}{
		{"100.100.100.199", Private},
		{"100.100.100.201", Private},
		{"169.254.169.253", LinkLocal},
		{"169.254.170.3", LinkLocal},
		{"fd00:ec2::253", Private},
		{"fd00:ec2::255", Private},
		{"fd20:ce::253", Private},
		{"168.63.129.17", Public},
		{"192.0.0.193", Public},
	}
	for _, n := range neighbours {
		t.Run("neighbour "+n.addr, func(t *testing.T) {
			if got := ClassifyAddr(netip.MustParseAddr(n.addr)).Class; got != n.want {
				t.Fatalf("ClassifyAddr(%s) = %s, want %s (only the endpoint itself is metadata)", n.addr, got, n.want)
			}
		})
	}
}

// metadataPolicy builds, for every metadata endpoint and every IPv6 form
// of 100.100.100.200, an exact rule, a wildcard name with allowPrivate and
// a name no rule knows, plus cidrs rules covering every address.
func metadataPolicy(t *testing.T, mode Mode, deny []DenyCIDR) (*Policy, []string) {
	t.Helper()
	targets := make([]string, 0, len(metadataEndpoints)+len(metadataForms))
	for _, e := range metadataEndpoints {
		targets = append(targets, e.Addr.String())
	}
	for _, f := range metadataForms {
		targets = append(targets, f.addr)
	}
	res := staticResolver{}
	rules := []Rule{
		{Name: "wild", Host: "*.wild.example", Ports: ports(80), AllowPrivate: true},
		{Name: "all-v4", CIDRs: []string{"0.0.0.0/0"}, Ports: ports(80)},
		{Name: "all-v6", CIDRs: []string{"::/0"}, Ports: ports(80)},
	}
	for i, a := range targets {
		addr := netip.MustParseAddr(a)
		res[fmt.Sprintf("exact-%d.example", i)] = []netip.Addr{addr}
		res[fmt.Sprintf("w%d.wild.example", i)] = []netip.Addr{addr}
		res[fmt.Sprintf("miss-%d.example", i)] = []netip.Addr{addr}
		res[fmt.Sprintf("mixed-%d.example", i)] = []netip.Addr{netip.MustParseAddr("93.184.216.34"), addr}
		rules = append(rules,
			Rule{Name: fmt.Sprintf("exact-%d", i), Host: fmt.Sprintf("exact-%d.example", i), Ports: ports(80)},
			Rule{Name: fmt.Sprintf("mixed-%d", i), Host: fmt.Sprintf("mixed-%d.example", i), Ports: ports(80)})
	}
	p, err := Compile(mode, rules, Options{Resolver: res, Deny: deny})
	if err != nil {
		t.Fatal(err)
	}
	return p, targets
}

// TestDecideMetadataAlwaysDenied: every metadata address, in both modes,
// through every kind of rule, a route, and a name no rule knows.
func TestDecideMetadataAlwaysDenied(t *testing.T) {
	for _, mode := range []Mode{Enforce, Report} {
		p, targets := metadataPolicy(t, mode, nil)
		for i, a := range targets {
			literal := a
			if strings.Contains(a, ":") {
				literal = "[" + a + "]"
			}
			cidrRule := "all-v6"
			if addr := netip.MustParseAddr(a); addr.Is4() || addr.Is4In6() {
				cidrRule = "all-v4" // an IPv4-mapped literal matches IPv4 cidrs
			}
			kinds := []struct {
				kind string
				req  Request
				rule string
			}{
				{"exact rule", get(fmt.Sprintf("exact-%d.example", i), 80, "/"), fmt.Sprintf("exact-%d", i)},
				{"exact rule, mixed answer", get(fmt.Sprintf("mixed-%d.example", i), 80, "/"), fmt.Sprintf("mixed-%d", i)},
				{"wildcard rule with allowPrivate", get(fmt.Sprintf("w%d.wild.example", i), 80, "/"), "wild"},
				{"cidrs rule", get(literal, 80, "/"), cidrRule},
				{"CONNECT through a cidrs rule", connect(literal, 80), cidrRule},
				{"route to the name", routed("rt", fmt.Sprintf("miss-%d.example", i), 80), "route:rt"},
				{"route to the literal", routed("rt", literal, 80), "route:rt"},
			}
			if mode == Report {
				kinds = append(kinds, struct {
					kind string
					req  Request
					rule string
				}{"name no rule knows", get(fmt.Sprintf("miss-%d.example", i), 80, "/"), ""})
			}
			for _, k := range kinds {
				t.Run(fmt.Sprintf("%s/%s/%s", mode, a, k.kind), func(t *testing.T) {
					d, err := p.Decide(context.Background(), k.req)
					if err != nil {
						t.Fatal(err)
					}
					if d.Result != Deny || d.Rule != k.rule || !strings.Contains(d.Reason, "a cloud metadata endpoint (always denied") ||
						len(d.Addrs) != 0 {
						t.Fatalf("Decide(%+v) = %s, rule %q, reason %q, addrs %v; want deny by rule %q naming the metadata class",
							k.req, d.Result, d.Rule, d.Reason, d.Addrs, k.rule)
					}
				})
			}
		}
	}
}

var linkLocal4 = netip.MustParsePrefix("169.254.0.0/16")

func TestValidateRulesMetadataCIDRs(t *testing.T) {
	for _, e := range metadataEndpoints {
		pfx := netip.PrefixFrom(e.Addr, e.Addr.BitLen()).String()
		errs := ValidateRules("spec.egress", []Rule{{Name: "m", CIDRs: []string{pfx}, Ports: ports(80)}})
		want := `spec.egress[0].cidrs[0]: cidr "` + pfx + `" lies inside ` + pfx + ", a cloud metadata endpoint range the address guard always denies"
		if linkLocal4.Contains(e.Addr) {
			want = `spec.egress[0].cidrs[0]: cidr "` + pfx + `" lies inside 169.254.0.0/16, a link-local range the address guard always denies`
		}
		if len(errs) != 1 || !strings.Contains(errs[0].Error(), want) {
			t.Errorf("cidrs [%s]: errors %v, want one containing %q", pfx, errs, want)
		}
	}
	// A wider range that merely contains an endpoint is accepted; the
	// endpoint itself stays denied (TestDecideMetadataAlwaysDenied).
	wide := []string{"100.64.0.0/10", "100.100.100.0/24", "fd00::/8", "fd00:ec2::/32", "168.63.0.0/16"}
	if errs := ValidateRules("spec.egress", []Rule{{Name: "w", CIDRs: wide, Ports: ports(80)}}); len(errs) != 0 {
		t.Fatalf("wide ranges around metadata endpoints: %v, want none", errs)
	}
}
