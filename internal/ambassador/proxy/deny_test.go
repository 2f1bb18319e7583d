package proxy

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// TestDenyCIDRsThroughThePipeline swaps in tables whose route target (a
// real upstream on 127.0.0.1) lies in a deny range, from the ambassador's
// --deny-cidrs (policy.Options.Deny) and from the table's spec.denyCidrs:
// both are denied with a reason naming the range and its source, and the
// upstream sees only the allowed requests before and after (the last one
// is the barrier).
func TestDenyCIDRsThroughThePipeline(t *testing.T) {
	up := newUpstream(t, nil)
	e := newEnv(t, mappedTable(up, ""), nil)
	flag, errs := policy.ParseDenyCIDRs("--deny-cidrs", []string{"10.0.0.0/8", "127.0.0.1/32"})
	if errs != nil {
		t.Fatal(errs)
	}
	allowed := e.compile(mappedTable(up, ""), nil)
	steps := []struct {
		name   string
		state  *State
		status int
		reason string
	}{
		{"no deny range", allowed, http.StatusOK, ""},
		{"--deny-cidrs", e.compileDeny(mappedTable(up, ""), flag), http.StatusForbidden,
			`127.0.0.1 is inside 127.0.0.1/32 from --deny-cidrs[1] (always denied`},
		{"spec.denyCidrs", e.compile(mappedTable(up, "  denyCidrs: [\"127.0.0.0/8\"]\n"), nil), http.StatusForbidden,
			`127.0.0.1 is inside 127.0.0.0/8 from spec.denyCidrs[0] (always denied`},
		{"spec.denyCidrs in report mode", e.compile(mappedTable(up, "  mode: report\n  denyCidrs: [\"127.0.0.0/8\"]\n"), nil),
			http.StatusForbidden, "inside 127.0.0.0/8 from spec.denyCidrs[0]"},
		{"barrier: allowed again", allowed, http.StatusOK, ""},
	}
	for i, s := range steps {
		e.h.Swap(s.state)
		resp, body := get(t, http.DefaultClient, fmt.Sprintf("%s/api?step=%d", e.local.URL, i))
		reason := resp.Header.Get("X-Meshlite-Reason")
		if resp.StatusCode != s.status || !strings.Contains(reason, s.reason) {
			t.Fatalf("%s: %d, reason %q, body %q; want %d with %q", s.name, resp.StatusCode, reason, body, s.status, s.reason)
		}
	}
	up.mu.Lock()
	var seen []string
	for _, r := range up.got {
		seen = append(seen, r.URL.RawQuery)
	}
	up.mu.Unlock()
	if strings.Join(seen, ",") != "step=0,step=4" {
		t.Fatalf("upstream saw %v, want only the allowed steps 0 and 4", seen)
	}
	lines := e.audit()
	if len(lines) != len(steps) {
		t.Fatalf("%d audit lines, want %d", len(lines), len(steps))
	}
	for i, s := range steps {
		want := "allow"
		if s.status == http.StatusForbidden {
			want = "deny"
		}
		if l := lines[i]; l["decision"] != want || l["rule"] != "route:rng" || !strings.Contains(fmt.Sprint(l["reason"]), s.reason) {
			t.Errorf("audit line %d = %v, want %s by route:rng with %q", i, l, want, s.reason)
		}
	}
}

// compileDeny compiles table as the ambassador does with --deny-cidrs.
func (e *env) compileDeny(table string, deny []policy.DenyCIDR) *State {
	e.t.Helper()
	rt, err := routes.Parse([]byte(strings.ReplaceAll(table, "{{DOOR}}", fmt.Sprint(e.doorPort))))
	if err != nil {
		e.t.Fatal(err)
	}
	tab, err := routes.Compile(rt, policy.Options{Deny: deny})
	if err != nil {
		e.t.Fatal(err)
	}
	return &State{Table: tab, Version: "deny", Origin: "test"}
}
