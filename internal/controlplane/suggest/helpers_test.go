package suggest

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"golang.org/x/net/publicsuffix"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// rec is an audit line for tests; empty fields get defaults.
type rec struct {
	ts, method, url, decision, route, upstream, reason, workload string
}

func (r rec) line() string {
	if r.ts == "" {
		r.ts = "2026-11-25T12:00:00Z"
	}
	if r.decision == "" {
		r.decision = decisionWouldDeny
	}
	if r.workload == "" {
		r.workload = "web"
	}
	if r.method == "" {
		r.method = "GET"
	}
	b, err := json.Marshal(map[string]any{
		"ts": r.ts, "id": "x-1", "door": "forward", "client": "127.0.0.1:40000", "method": r.method,
		"url": r.url, "route": r.route, "target": "", "upstream": r.upstream, "decision": r.decision,
		"reason": r.reason, "rule": "", "status": 200, "attempts": 1, "duration_ms": 1.5,
		"bytes_in": 0, "bytes_out": 0, "trace_id": "", "original_dst": "", "sni": "",
		"workload": r.workload, "node_id": "web-1",
	})
	if err != nil {
		panic(err)
	}
	return string(b) + "\n"
}

func lines(recs ...rec) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.line())
	}
	return b.String()
}

// suggestFrom runs the whole pipeline on input and returns the tables by
// workload, and stderr.
func suggestFrom(t *testing.T, input string, opts Options) (map[string]table, string) {
	t.Helper()
	opts, err := opts.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	a, err := readAll(opts, nil, strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	var base *mergeBase
	if opts.Merge != "" {
		if base, err = loadMergeBase(opts.Merge); err != nil {
			t.Fatal(err)
		}
	}
	tables, err := buildTables(a, opts, base, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]table, len(tables))
	for _, tb := range tables {
		out[tb.workload] = tb
	}
	return out, stderr.String()
}

// egress parses a table and returns its rules.
func egress(t *testing.T, tb table) []policy.Rule {
	t.Helper()
	rt, err := routes.Parse(tb.yaml)
	if err != nil {
		t.Fatalf("table does not validate: %v\n%s", err, tb.yaml)
	}
	return rt.Spec.Egress
}

// checkAllowsSeen asserts the property the suggester promises: every
// suggested table, compiled, allows every allow and would_deny line of its
// workload that the guard does not always deny, and no wildcard is a
// public suffix. Names resolve to a public test address, or to a private
// one for hosts a line dialled at a private address.
func checkAllowsSeen(t *testing.T, input string, opts Options, tables map[string]table) {
	t.Helper()
	res := seenResolver{}
	type seenLine struct {
		l auditLine
		d destination
	}
	var seen []seenLine
	for _, raw := range strings.Split(input, "\n") {
		l, ts, err := parseLine([]byte(raw))
		if err != nil || l.Route != "" || l.Decision == decisionDeny {
			continue
		}
		if !opts.Since.IsZero() && ts.Before(opts.Since) || !opts.Until.IsZero() && !ts.Before(opts.Until) {
			continue
		}
		d, err := parseDestination(l.Method, l.URL)
		if err != nil {
			continue
		}
		if _, stay := alwaysDenied(d, l.Decision, l.Reason); stay {
			continue
		}
		if l.Workload == "" {
			l.Workload = opts.Workload
		}
		if checkWorkload(l.Workload) != nil {
			continue
		}
		if privateUpstream(l.Upstream) {
			res[d.host] = checkPrivateAddr
		}
		seen = append(seen, seenLine{l, d})
	}
	compiled := make(map[string]*routes.Table)
	for w, tb := range tables {
		rt, err := routes.Parse(tb.yaml)
		if err != nil {
			t.Fatalf("workload %s: table does not validate: %v\n%s", w, err, tb.yaml)
		}
		for _, r := range rt.Spec.Egress {
			if suffix, ok := strings.CutPrefix(r.Host, "*."); ok {
				if ps, _ := publicsuffix.PublicSuffix(suffix); ps == suffix {
					t.Errorf("workload %s: rule %s is a wildcard over the public suffix %s", w, r.Name, suffix)
				}
			}
		}
		if compiled[w], err = routes.Compile(rt, policy.Options{Resolver: res}); err != nil {
			t.Fatalf("workload %s: %v", w, err)
		}
	}
	for _, s := range seen {
		ct := compiled[s.l.Workload]
		if ct == nil {
			t.Errorf("no table for workload %q (line %s %s)", s.l.Workload, s.l.Method, s.l.URL)
			continue
		}
		req := policy.Request{Host: s.d.host, Port: s.d.port, Method: s.d.method, Path: s.d.path, Connect: s.d.tunnel}
		if s.d.tunnel {
			req.Method = "CONNECT"
		}
		dec, err := ct.Policy.Decide(context.Background(), req)
		if err != nil || dec.Result != policy.Allow {
			t.Errorf("workload %s: %s %s not allowed by the suggested table: %v %v\n%s",
				s.l.Workload, s.l.Method, s.l.URL, dec, err, tables[s.l.Workload].yaml)
		}
	}
}

func TestCheckAddressesPassTheGuard(t *testing.T) {
	if c := policy.ClassifyAddr(checkPublicAddr).Class; c != policy.Public {
		t.Errorf("checkPublicAddr %s is %s, want public", checkPublicAddr, c)
	}
	if c := policy.ClassifyAddr(checkPrivateAddr).Class; c != policy.Private {
		t.Errorf("checkPrivateAddr %s is %s, want private", checkPrivateAddr, c)
	}
}
