package suggest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// TestByteOrderMark: a file saved with a UTF-8 byte order mark loses no
// line to it.
func TestByteOrderMark(t *testing.T) {
	input := "\uFEFF" + lines(rec{url: "http://first.example.com/"}, rec{url: "http://second.example.com/"})
	tables, stderr := suggestFrom(t, input, Options{})
	rules := egress(t, tables["web"])
	if len(rules) != 2 {
		t.Fatalf("got %d rules, want 2 (the first line is not skipped)\n%s\n%s", len(rules), tables["web"].yaml, stderr)
	}
	checkAllowsSeen(t, strings.TrimPrefix(input, "\uFEFF"), Options{}, tables)
}

// TestMergeDenyRange: with --merge, a literal IP inside the base table's
// spec.denyCidrs is never suggested (no rule can allow it); it is listed as
// will stay denied.
func TestMergeDenyRange(t *testing.T) {
	base := writeBase(t, strings.Replace(baseTable, "  mode: report\n", "  mode: report\n  denyCidrs: [203.0.113.128/25]\n", 1))
	input := lines(
		rec{url: "http://203.0.113.200/"},
		rec{method: "TCP", url: "[::ffff:203.0.113.201]:5432"},
		rec{url: "http://203.0.113.5/"},
	)
	tables, stderr := suggestFrom(t, input, Options{Merge: base})
	for _, r := range egress(t, tables["web"]) {
		for _, c := range r.CIDRs {
			if strings.HasPrefix(c, "203.0.113.20") {
				t.Errorf("rule %s suggests %s, inside the base table's deny range\n%s", r.Name, c, tables["web"].yaml)
			}
		}
	}
	if !strings.Contains(string(tables["web"].yaml), "203.0.113.5/32") {
		t.Errorf("203.0.113.5 not suggested\n%s", tables["web"].yaml)
	}
	for _, want := range []string{"203.0.113.200:80", "inside a deny range"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr)
		}
	}
}

// TestTooBigForOneTable: a workload that reached more destinations than
// one RouteTable can hold gets an error that says so and what to do, not
// an internal error.
func TestTooBigForOneTable(t *testing.T) {
	var b strings.Builder
	for i := range 12000 {
		b.WriteString(rec{method: "TCP", url: fmt.Sprintf("198.51.%d.%d:5432", i/250, i%250+1)}.line())
	}
	var stdout, stderr bytes.Buffer
	err := Run(Options{}, nil, strings.NewReader(b.String()), &stdout, &stderr)
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, "internal error") || !strings.Contains(msg, `workload "web"`) || !strings.Contains(msg, "--min-count") {
		t.Errorf("error %q: want one naming the workload and --min-count, not an internal error", msg)
	}
}
