package policy

import (
	"errors"
	"strings"
	"testing"
)

func ports(ps ...uint16) []PortRange {
	out := make([]PortRange, len(ps))
	for i, p := range ps {
		out[i] = PortRange{From: p, To: p}
	}
	return out
}

func TestValidateRules(t *testing.T) {
	ok := Rule{Name: "ok", Host: "api.example.com", Ports: ports(443)}
	with := func(f func(*Rule)) []Rule {
		r := ok
		f(&r)
		return []Rule{r}
	}
	tests := []struct {
		name  string
		rules []Rule
		want  []string // "path: message substring", in order
	}{
		{name: "valid exact, wildcard, cidrs and IDN rules", rules: []Rule{
			ok,
			{Name: "wild", Host: "*.googleapis.com", Ports: []PortRange{{8000, 8100}}},
			{Name: "net", CIDRs: []string{"10.0.0.0/8", "fd00::/8"}, Ports: ports(80)},
			{Name: "idn", Host: "Bücher.Example.", Ports: ports(443), Methods: []string{"GET"}, Paths: []string{"/a/", "/"}},
		}},
		{name: "missing name", rules: with(func(r *Rule) { r.Name = "" }),
			want: []string{"spec.egress[0].name: required"}},
		{name: "duplicate name", rules: []Rule{ok, ok},
			want: []string{`spec.egress[1].name: name "ok" is already used by spec.egress[0]`}},
		{name: "name with space", rules: with(func(r *Rule) { r.Name = "my rule" }),
			want: []string{`spec.egress[0].name: name "my rule" has ' '`}},
		{name: "neither host nor cidrs", rules: with(func(r *Rule) { r.Host = "" }),
			want: []string{"spec.egress[0]: host or cidrs required"}},
		{name: "lone star", rules: with(func(r *Rule) { r.Host = "*" }),
			want: []string{`spec.egress[0].host: host "*" would allow every destination`}},
		{name: "star over a TLD", rules: with(func(r *Rule) { r.Host = "*.com" }),
			want: []string{`spec.egress[0].host: host "*.com" is too broad`}},
		{name: "star in the middle", rules: with(func(r *Rule) { r.Host = "a.*.b" }),
			want: []string{`spec.egress[0].host: host "a.*.b": "*" is allowed only as the whole leftmost label`}},
		{name: "star inside a label", rules: with(func(r *Rule) { r.Host = "foo*.example.com" }),
			want: []string{`"*" is allowed only as the whole leftmost label`}},
		{name: "two stars", rules: with(func(r *Rule) { r.Host = "*.*.example.com" }),
			want: []string{`"*" is allowed only as the whole leftmost label`}},
		{name: "IPv4 literal host", rules: with(func(r *Rule) { r.Host = "10.1.2.3" }),
			want: []string{`spec.egress[0].host: host "10.1.2.3" is an IP address (use cidrs: ["10.1.2.3/32"])`}},
		{name: "IPv6 literal host", rules: with(func(r *Rule) { r.Host = "[fd00::1]" }),
			want: []string{`(use cidrs: ["fd00::1/128"])`}},
		{name: "bad character", rules: with(func(r *Rule) { r.Host = "api example.com" }),
			want: []string{`spec.egress[0].host: host "api example.com": invalid character ' '`}},
		{name: "empty label", rules: with(func(r *Rule) { r.Host = "api..example.com" }),
			want: []string{`contains an empty label`}},
		{name: "no ports", rules: with(func(r *Rule) { r.Ports = nil }),
			want: []string{"spec.egress[0].ports: required"}},
		{name: "port zero and reversed range", rules: with(func(r *Rule) { r.Ports = []PortRange{{443, 443}, {0, 0}, {9000, 8000}} }),
			want: []string{"spec.egress[0].ports[1]: port 0 is out of range", `spec.egress[0].ports[2]: range "9000-8000" is reversed (write "8000-9000")`}},
		{name: "lower-case method", rules: with(func(r *Rule) { r.Methods = []string{"GET", "post"} }),
			want: []string{`spec.egress[0].methods[1]: method "post" must be upper case (write "POST")`}},
		{name: "unknown method", rules: with(func(r *Rule) { r.Methods = []string{"FETCH"} }),
			want: []string{`spec.egress[0].methods[0]: unknown method "FETCH"`}},
		{name: "CONNECT method", rules: with(func(r *Rule) { r.Methods = []string{"CONNECT"} }),
			want: []string{`spec.egress[0].methods[0]: CONNECT cannot be listed`}},
		{name: "relative path", rules: with(func(r *Rule) { r.Paths = []string{"healthz"} }),
			want: []string{`spec.egress[0].paths[0]: path "healthz" must start with "/" (write "/healthz")`}},
		{name: "unclean path", rules: with(func(r *Rule) { r.Paths = []string{"/a/../admin"} }),
			want: []string{`spec.egress[0].paths[0]: path "/a/../admin" is not clean (write "/admin")`}},
		{name: "path with query", rules: with(func(r *Rule) { r.Paths = []string{"/a?b"} }),
			want: []string{"must not contain a query"}},
		{name: "cidr not a prefix", rules: with(func(r *Rule) { r.CIDRs = []string{"10.0.0.0"} }),
			want: []string{`spec.egress[0].cidrs[0]: cidr "10.0.0.0" is not a prefix`}},
		{name: "cidr with host bits", rules: with(func(r *Rule) { r.CIDRs = []string{"10.1.2.3/8"} }),
			want: []string{`spec.egress[0].cidrs[0]: cidr "10.1.2.3/8" has host bits set (write the masked form "10.0.0.0/8")`}},
		{name: "cidr inside the metadata range", rules: with(func(r *Rule) { r.CIDRs = []string{"169.254.169.254/32"} }),
			want: []string{`lies inside 169.254.0.0/16, a link-local range the address guard always denies`}},
		{name: "one error per problem, later rules still checked", rules: []Rule{
			{Name: "", Host: "*", Ports: ports(0)},
			{Name: "b", Host: "ok.example", Ports: ports(1), Paths: []string{"x"}},
		}, want: []string{
			"spec.egress[0].name: required",
			"spec.egress[0].host:",
			"spec.egress[0].ports[0]:",
			"spec.egress[1].paths[0]:",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := ValidateRules("spec.egress", tt.rules)
			if len(errs) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(tt.want), errors.Join(errs...))
			}
			for i, err := range errs {
				var fe *FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("error %d is %T, want *FieldError", i, err)
				}
				if !strings.Contains(err.Error(), tt.want[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, err, tt.want[i])
				}
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	_, err := Compile("audit", []Rule{{Name: "x", Host: "*", Ports: ports(443)}}, Options{})
	if err == nil {
		t.Fatal("Compile accepted an unknown mode and a lone-star host")
	}
	for _, want := range []string{`mode: unknown mode "audit" (use enforce or report)`, `[0].host: host "*"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	p, err := Compile("", nil, Options{})
	if err != nil || p.Mode() != Enforce {
		t.Fatalf("empty mode: %v, %v; want enforce", p, err)
	}
}
