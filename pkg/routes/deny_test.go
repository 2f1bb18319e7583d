package routes

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/pkg/policy"
)

func TestDenyCIDRsErrorLine(t *testing.T) {
	_, err := Load("testdata/invalid/deny-cidrs-not-prefix.yaml")
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Path != "spec.denyCidrs[1]" || fe.Line != 12 {
		t.Fatalf("error %v (%+v), want a FieldError at spec.denyCidrs[1], line 12", err, fe)
	}
}

// nameResolver answers from a map, as a resolver would.
type nameResolver map[string][]netip.Addr

func (r nameResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

// TestCompileMergesDenyCIDRs: the table's spec.denyCidrs and the options'
// ranges (the ambassador's --deny-cidrs) both deny, each naming its source.
func TestCompileMergesDenyCIDRs(t *testing.T) {
	rt, err := Parse([]byte(header + `  mode: report
  routes:
    - name: rng
      source: http://localhost/api
      target: http://numbers-api/rng
    - name: ledger
      source: http://localhost/ledger
      target: http://ledger/v1
    - name: ok
      source: http://localhost/ok
      target: http://ok/v1
  denyCidrs: [10.20.0.0/16]
`))
	if err != nil {
		t.Fatal(err)
	}
	flag, errs := policy.ParseDenyCIDRs("--deny-cidrs", []string{"203.0.113.0/24"})
	if errs != nil {
		t.Fatal(errs)
	}
	opts := policy.Options{Deny: flag, Resolver: nameResolver{
		"numbers-api": {netip.MustParseAddr("10.20.0.5")},
		"ledger":      {netip.MustParseAddr("203.0.113.9")},
		"ok":          {netip.MustParseAddr("10.30.0.5")},
	}}
	tbl, err := Compile(rt, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Deny) != 1 {
		t.Fatalf("Compile changed the caller's options: %v", opts.Deny)
	}
	tests := []struct {
		route, host string
		want        policy.Result
		reason      string
	}{
		{"rng", "numbers-api", policy.Deny, `"numbers-api" resolves to 10.20.0.5, inside 10.20.0.0/16 from spec.denyCidrs[0]`},
		{"ledger", "ledger", policy.Deny, `"ledger" resolves to 203.0.113.9, inside 203.0.113.0/24 from --deny-cidrs[0]`},
		{"ok", "ok", policy.Allow, `allowed by route "ok"`},
	}
	for _, tt := range tests {
		d, err := tbl.Policy.Decide(context.Background(), policy.Request{Host: tt.host, Port: 80, Method: "GET", Path: "/", Route: tt.route})
		if err != nil || d.Result != tt.want || !strings.Contains(d.Reason, tt.reason) {
			t.Errorf("route %s: %s %q (%v), want %s with %q", tt.route, d.Result, d.Reason, err, tt.want, tt.reason)
		}
	}
	rt.Spec.DenyCIDRs[0] = "0.0.0.0/0"
	if tbl.Source.Spec.DenyCIDRs[0] != "10.20.0.0/16" {
		t.Fatalf("the table shares spec.denyCidrs with the document")
	}
}
