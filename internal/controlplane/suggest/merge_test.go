package suggest

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const baseTable = `# the web team's table
apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: web
spec:
  mode: report
  routes:
    - name: rng
      source: http://localhost/api
      target: http://numbers-api/rng
  egress:
    # reviewed in October
    - name: github
      host: api.github.com
      ports: [443]
    - name: docs-read
      host: docs.example.com
      ports: [80]
      methods: [GET]
      paths: [/v1]
`

func writeBase(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMerge(t *testing.T) {
	input := lines(
		rec{method: "CONNECT", url: "api.github.com:443"},                 // allowed already
		rec{method: "GET", url: "http://docs.example.com/v1/pages/3"},     // allowed already
		rec{method: "POST", url: "http://docs.example.com/v1/pages"},      // method missing
		rec{method: "CONNECT", url: "api.github.com:8443"},                // port missing
		rec{method: "CONNECT", url: "new.example.org:443"},                // host missing
		rec{method: "GET", url: "http://other.example/", workload: "api"}, // another workload: a fresh table
	)
	opts := Options{Merge: writeBase(t, baseTable)}
	tables, stderr := suggestFrom(t, input, opts)
	checkAllowsSeen(t, input, opts, tables)
	web := string(tables["web"].yaml)
	for _, want := range []string{
		"# the web team's table\n",
		"mode: enforce # review every rule",
		"    # reviewed in October\n    - name: github\n      host: api.github.com\n      ports: [443]\n",
		"    - name: docs-read\n      host: docs.example.com\n      ports: [80]\n      methods: [GET]\n      paths: [/v1]\n",
		"    - name: api.github.com\n      host: api.github.com\n      ports: [8443]\n",
		"    - name: docs.example.com\n      host: docs.example.com\n      ports: [80]\n",
		"    - name: new.example.org\n      host: new.example.org\n      ports: [443]\n",
		"source: http://localhost/api",
	} {
		if !strings.Contains(web, want) {
			t.Errorf("merged table lacks %q:\n%s", want, web)
		}
	}
	if n := strings.Count(web, "- name:"); n != 6 {
		t.Errorf("%d rules and routes, want 1 route + 2 kept + 3 added:\n%s", n, web)
	}
	for _, want := range []string{
		"(workload web): 3 rules added, 2 kept as they were\n",
		"  spec.mode: report -> enforce\n",
		"+ spec.egress[2:5]:\n",
		"+   - name: new.example.org\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("diff lacks %q:\n%s", want, stderr)
		}
	}
	if !strings.Contains(string(tables["api"].yaml), "host: other.example") {
		t.Errorf("the other workload's table:\n%s", tables["api"].yaml)
	}
}

func TestMergeNothingMissing(t *testing.T) {
	input := lines(rec{method: "CONNECT", url: "api.github.com:443"})
	tables, stderr := suggestFrom(t, input, Options{Merge: writeBase(t, strings.Replace(baseTable, "mode: report", "mode: enforce", 1))})
	if !strings.Contains(stderr, "0 rules added, 2 kept") || !strings.Contains(stderr, "no rules added") || strings.Contains(stderr, "spec.mode") {
		t.Errorf("stderr:\n%s", stderr)
	}
	if strings.Count(string(tables["web"].yaml), "- name:") != 3 {
		t.Errorf("table changed:\n%s", tables["web"].yaml)
	}
}

func TestMergeWithoutLinesForItsWorkload(t *testing.T) {
	input := lines(rec{url: "http://other.example/", workload: "api"})
	tables, stderr := suggestFrom(t, input, Options{Merge: writeBase(t, baseTable)})
	if len(tables) != 2 || !strings.Contains(stderr, `no audit lines of workload "web"`) {
		t.Errorf("%d tables; stderr:\n%s", len(tables), stderr)
	}
}

func TestMergeAvoidsTakenNames(t *testing.T) {
	base := strings.Replace(baseTable, "name: github", "name: new.example.org", 1)
	input := lines(rec{method: "CONNECT", url: "new.example.org:443"})
	tables, _ := suggestFrom(t, input, Options{Merge: writeBase(t, base)})
	if !strings.Contains(string(tables["web"].yaml), "name: new.example.org-2") {
		t.Errorf("table:\n%s", tables["web"].yaml)
	}
}

func TestMergeInvalidBase(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p := writeBase(t, strings.Replace(baseTable, "ports: [443]", "ports: [0]", 1))
	err := Run(Options{Merge: p}, nil, strings.NewReader(lines(rec{url: "http://a.example/"})), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "suggest: --merge: ") || !strings.Contains(err.Error(), "spec.egress[0].ports[0]") {
		t.Errorf("error %v", err)
	}
}

func TestReport(t *testing.T) {
	input := lines(
		rec{method: "CONNECT", url: "api.github.com:443", ts: "2026-11-25T10:00:00Z"},
		rec{method: "CONNECT", url: "api.github.com:443", ts: "2026-11-25T11:00:00Z"},
		rec{method: "CONNECT", url: "api.github.com:443", ts: "2026-11-25T12:00:00Z", decision: decisionAllow}, // allowed by a rule
		rec{method: "TCP", url: "203.0.113.7:5432"},
		rec{url: "http://169.254.169.254/latest", decision: decisionDeny},
		rec{url: "http://localhost:9901/config_dump", decision: decisionDeny},
		rec{url: "http://blocked.example/", decision: decisionDeny, reason: "no egress rule allows"},
		rec{url: "http://localhost/api", route: "rng", decision: decisionAllow},
		rec{url: "http://localhost/meta", route: "meta", decision: decisionDeny},
	)
	var stdout, stderr bytes.Buffer
	if err := Run(Options{Report: true}, nil, strings.NewReader(input), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	out := stdout.String()
	for _, want := range []string{
		"workload web: 9 audit lines, 2026-11-25T10:00:00Z to 2026-11-25T12:00:00Z\n",
		"  would be denied in enforce mode: 2 destinations, 3 requests\n",
		"    api.github.com:443  2         2026-11-25T10:00:00Z  2026-11-25T11:00:00Z  tunnel or TLS/TCP stream\n",
		"    203.0.113.7:5432    1 ",
		"  will stay denied (the address guard denies these in every mode; never suggested): 2 destinations, 2 requests\n",
		"    169.254.169.254:80  1 ",
		"cloud metadata endpoint\n",
		"    localhost:9901      1 ",
		"  denied when logged (not suggested): 2 destinations, 2 requests\n",
		"    route meta  ",
		"  allowed by routes (no rule needed): 1 request\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "apiVersion") {
		t.Errorf("report printed a table:\n%s", out)
	}
}
