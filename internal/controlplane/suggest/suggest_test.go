package suggest

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
)

func TestParseDestination(t *testing.T) {
	cases := []struct {
		name, method, url string
		want              destination
		wantErr           string
	}{
		{"http default port", "GET", "http://api.example.com/v1/users", destination{host: "api.example.com", port: 80, method: "GET", path: "/v1/users"}, ""},
		{"http explicit port and query", "POST", "http://api.example.com:8080/x?q=1", destination{host: "api.example.com", port: 8080, method: "POST", path: "/x"}, ""},
		{"host normalised", "GET", "http://API.Example.COM./", destination{host: "api.example.com", port: 80, method: "GET", path: "/"}, ""},
		{"escaped path decoded", "GET", "http://a.example/a%20b/c", destination{host: "a.example", port: 80, method: "GET", path: "/a b/c"}, ""},
		{"no path", "GET", "http://a.example", destination{host: "a.example", port: 80, method: "GET", path: "/"}, ""},
		{"ipv6 literal", "GET", "http://[2001:db8::1]:8080/", destination{host: "2001:db8::1", port: 8080, method: "GET", path: "/"}, ""},
		{"truncated url loses its partial segment", "GET", "http://a.example/keep/cut-in-the-mi" + truncMark, destination{host: "a.example", port: 80, method: "GET", path: "/keep"}, ""},
		{"truncated in the query keeps the path", "GET", "http://a.example/keep/all?x=" + truncMark, destination{host: "a.example", port: 80, method: "GET", path: "/keep/all"}, ""},
		{"connect", "CONNECT", "api.example.com:443", destination{host: "api.example.com", port: 443, tunnel: true}, ""},
		{"tls relayed by name", "TLS", "api.example.com:443", destination{host: "api.example.com", port: 443, tunnel: true}, ""},
		{"tcp relayed by address", "TCP", "203.0.113.7:5432", destination{host: "203.0.113.7", port: 5432, tunnel: true}, ""},
		{"tcp ipv6", "TCP", "[2001:db8::1]:22", destination{host: "2001:db8::1", port: 22, tunnel: true}, ""},
		{"connect without port", "CONNECT", "api.example.com", destination{}, "missing port"},
		{"ftp url", "GET", "ftp://a.example/", destination{}, "not an http URL"},
		{"bad host", "GET", "http://a_b..c/", destination{}, "url"},
		{"no method", "", "http://a.example/", destination{}, `no "method"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseDestination(tc.method, tc.url)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.ip = got.ip.WithZone("")
			if got.host != tc.want.host || got.port != tc.want.port || got.tunnel != tc.want.tunnel ||
				got.method != tc.want.method || got.path != tc.want.path {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAlwaysDenied(t *testing.T) {
	cases := []struct {
		name, method, url, decision, reason string
		wantWhy                             string // "" = not always denied
	}{
		{"loopback literal", "GET", "http://127.0.0.1:8080/", decisionDeny, "", "loopback"},
		{"metadata endpoint", "GET", "http://169.254.169.254/latest", decisionDeny, "", "cloud metadata endpoint"},
		{"metadata in ipv6 form", "GET", "http://[::ffff:169.254.169.254]/", decisionDeny, "", "cloud metadata endpoint"},
		{"link-local", "TCP", "169.254.1.1:80", decisionDeny, "", "link-local"},
		{"unspecified", "GET", "http://0.0.0.0/", decisionDeny, "", "unspecified"},
		{"multicast", "TCP", "224.0.0.1:5353", decisionDeny, "", "multicast"},
		{"localhost by name", "GET", "http://localhost:8080/api", decisionDeny, "", "loopback name"},
		{"a .localhost name", "CONNECT", "app.localhost:443", decisionDeny, "", "loopback name"},
		{"loopback even as would_deny", "TCP", "127.0.0.1:9901", decisionWouldDeny, "", "loopback"},
		{"own listener by reason", "GET", "http://proxy.internal:1080/", decisionDeny,
			`"proxy.internal" resolves to 10.0.0.1, the ambassador's own listener 10.0.0.1:1080 (always denied: the request would loop back)`, "own listener"},
		{"name resolving to metadata", "GET", "http://meta.example/", decisionDeny,
			`"meta.example" resolves to 169.254.169.254, a cloud metadata endpoint (always denied: no rule, route or mode can allow it)`, "resolves to 169.254.169.254, cloud metadata endpoint"},
		{"deny range", "GET", "http://x.example/", decisionDeny,
			`"x.example" resolves to 203.0.113.9, inside 203.0.113.0/24 from --deny-cidrs (always denied: no rule, route or mode can allow a deny range)`, "deny range"},
		{"public literal", "TCP", "203.0.113.7:5432", decisionWouldDeny, "", ""},
		{"private literal", "TCP", "10.1.2.3:5432", decisionDeny, "no egress rule allows", ""},
		{"denied by the table", "GET", "http://api.example.com/", decisionDeny, `no egress rule allows "api.example.com:80" (denied by default; add a rule to spec.egress)`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := parseDestination(tc.method, tc.url)
			if err != nil {
				t.Fatal(err)
			}
			why, ok := alwaysDenied(d, tc.decision, tc.reason)
			if ok != (tc.wantWhy != "") || !strings.Contains(why, tc.wantWhy) {
				t.Errorf("alwaysDenied = %q, %v; want %q", why, ok, tc.wantWhy)
			}
		})
	}
}

func TestWildcards(t *testing.T) {
	hosts := func(names ...string) string {
		var recs []rec
		for _, n := range names {
			recs = append(recs, rec{method: "CONNECT", url: n + ":443"})
		}
		return lines(recs...)
	}
	cases := []struct {
		name   string
		input  string
		min    int
		want   []string // rule hosts
		wantIP []string // rule cidrs
	}{
		{"three subdomains make a wildcard", hosts("a.example.com", "b.example.com", "c.b.example.com"), 0, []string{"*.example.com"}, nil},
		{"two do not", hosts("a.example.com", "b.example.com"), 0, []string{"a.example.com", "b.example.com"}, nil},
		{"the apex keeps its own rule", hosts("example.com", "a.example.com", "b.example.com", "c.example.com"), 0, []string{"*.example.com", "example.com"}, nil},
		{"never over co.uk", hosts("a.co.uk", "b.co.uk", "c.co.uk"), 0, []string{"a.co.uk", "b.co.uk", "c.co.uk"}, nil},
		{"under a co.uk domain", hosts("a.shop.co.uk", "b.shop.co.uk", "c.shop.co.uk"), 0, []string{"*.shop.co.uk"}, nil},
		{"never over com", hosts("a.com", "b.com", "c.com", "d.com"), 1, []string{"a.com", "b.com", "c.com", "d.com"}, nil},
		{"never over a private public suffix", hosts("a.github.io", "b.github.io", "c.github.io"), 0, []string{"a.github.io", "b.github.io", "c.github.io"}, nil},
		{"single-label names stay exact", hosts("timecheck", "numbers", "web"), 1, []string{"numbers", "timecheck", "web"}, nil},
		{"--wildcard-min 2", hosts("a.example.com", "b.example.com"), 2, []string{"*.example.com"}, nil},
		{"literal ips become cidrs", lines(rec{method: "TCP", url: "203.0.113.7:5432"}, rec{method: "GET", url: "http://[2001:db8::1]/"}), 0, nil, []string{"203.0.113.7/32", "2001:db8::1/128"}},
		{"hosts dialled at a private address stay exact", lines(
			rec{method: "CONNECT", url: "a.svc.example.com:443", upstream: "10.0.0.1:443"},
			rec{method: "CONNECT", url: "b.svc.example.com:443", upstream: "10.0.0.2:443"},
			rec{method: "CONNECT", url: "c.svc.example.com:443", upstream: "10.0.0.3:443"}), 0,
			[]string{"a.svc.example.com", "b.svc.example.com", "c.svc.example.com"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{WildcardMin: tc.min}
			tables, _ := suggestFrom(t, tc.input, opts)
			var gotHosts, gotIPs []string
			for _, r := range egress(t, tables["web"]) {
				if r.Host != "" {
					gotHosts = append(gotHosts, r.Host)
				}
				gotIPs = append(gotIPs, r.CIDRs...)
			}
			if !slices.Equal(gotHosts, tc.want) || !slices.Equal(gotIPs, tc.wantIP) {
				t.Errorf("hosts %q cidrs %q, want %q %q\n%s", gotHosts, gotIPs, tc.want, tc.wantIP, tables["web"].yaml)
			}
			checkAllowsSeen(t, tc.input, opts, tables)
		})
	}
}

func TestPaths(t *testing.T) {
	get := func(method, url string) rec { return rec{method: method, url: url} }
	cases := []struct {
		name        string
		recs        []rec
		depth       int
		wantMethods []string
		wantPaths   []string
		wantNote    string
	}{
		{"first segment", []rec{get("GET", "http://a.example/v1/users/7"), get("GET", "http://a.example/v1/teams")}, 1, []string{"GET"}, []string{"/v1"}, ""},
		{"two segments", []rec{get("GET", "http://a.example/v1/users/7"), get("POST", "http://a.example/v1/teams")}, 2, []string{"GET", "POST"}, []string{"/v1/teams", "/v1/users"}, ""},
		{"a shorter path covers a longer one", []rec{get("GET", "http://a.example/v1"), get("GET", "http://a.example/v1/users/7")}, 2, []string{"GET"}, []string{"/v1"}, ""},
		{"the root allows every path", []rec{get("GET", "http://a.example/"), get("GET", "http://a.example/v1")}, 1, []string{"GET"}, nil, ""},
		{"a tunnel to the host drops methods and paths", []rec{get("GET", "http://a.example/v1"), get("CONNECT", "a.example:443")}, 1, nil, nil, "CONNECT tunnel"},
		{"an unknown method drops methods", []rec{get("PROPFIND", "http://a.example/dav")}, 1, nil, []string{"/dav"}, "a method seen"},
		{"a path a rule cannot hold drops paths", []rec{get("GET", "http://a.example/a%3Fb/c")}, 1, []string{"GET"}, nil, "a path seen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := Options{Paths: true, PathDepth: tc.depth}
			input := lines(tc.recs...)
			tables, _ := suggestFrom(t, input, opts)
			rules := egress(t, tables["web"])
			if len(rules) != 1 {
				t.Fatalf("%d rules, want 1\n%s", len(rules), tables["web"].yaml)
			}
			if !slices.Equal(rules[0].Methods, tc.wantMethods) || !slices.Equal(rules[0].Paths, tc.wantPaths) {
				t.Errorf("methods %q paths %q, want %q %q", rules[0].Methods, rules[0].Paths, tc.wantMethods, tc.wantPaths)
			}
			if !strings.Contains(string(tables["web"].yaml), tc.wantNote) {
				t.Errorf("table lacks the note %q:\n%s", tc.wantNote, tables["web"].yaml)
			}
			checkAllowsSeen(t, input, opts, tables)
		})
	}
}

func TestPathsOnlyWhenAsked(t *testing.T) {
	input := lines(rec{url: "http://a.example/v1/x"}, rec{url: "http://a.example:8080/v2", method: "POST"})
	tables, _ := suggestFrom(t, input, Options{})
	rules := egress(t, tables["web"])
	if len(rules) != 1 || rules[0].Methods != nil || rules[0].Paths != nil ||
		!slices.Equal(rules[0].Ports, []policy.PortRange{{From: 80, To: 80}, {From: 8080, To: 8080}}) {
		t.Errorf("rules %+v, want one rule for ports 80 and 8080 with no methods or paths", rules)
	}
}

func TestTableShape(t *testing.T) {
	input := lines(
		rec{url: "http://api.example.com/v1", ts: "2026-11-25T10:00:00Z"},
		rec{url: "http://api.example.com/v1", ts: "2026-11-25T11:00:00Z", decision: decisionAllow},
		rec{url: "http://localhost:8080/api", route: "rng", decision: decisionAllow},
		rec{url: "http://169.254.169.254/latest", decision: decisionDeny},
		rec{url: "http://db.example/", workload: "api"},
	)
	tables, stderr := suggestFrom(t, input, Options{})
	if len(tables) != 2 {
		t.Fatalf("%d tables, want 2 (api, web)", len(tables))
	}
	web := string(tables["web"].yaml)
	for _, want := range []string{
		"apiVersion: meshlite/v1\nkind: RouteTable\nmetadata:\n  name: web\n",
		"mode: enforce # review every rule",
		"# 2 requests, 2026-11-25T10:00:00Z to 2026-11-25T11:00:00Z\n    - name: api.example.com\n",
		"1 line allowed by routes",
		"1 line to destinations the address guard always denies",
	} {
		if !strings.Contains(web, want) {
			t.Errorf("table lacks %q:\n%s", want, web)
		}
	}
	if strings.Contains(web, "169.254") || strings.Contains(web, "localhost") {
		t.Errorf("table suggests an always-denied destination:\n%s", web)
	}
	if !strings.Contains(stderr, "169.254.169.254:80: 1 request at 2026-11-25T12:00:00Z [cloud metadata endpoint]") {
		t.Errorf("stderr lacks the will-stay-denied line:\n%s", stderr)
	}
}

func TestRuleNamesUniqueAndValid(t *testing.T) {
	long := strings.Repeat("a", 60) + ".example"
	input := lines(
		rec{url: "http://" + long + "/"},
		rec{url: "http://" + strings.Repeat("a", 60) + ".example2/"},
		rec{url: "http://any.example.com/"}, // would clash with the wildcard's name
		rec{method: "CONNECT", url: "a.example.com:443"},
		rec{method: "CONNECT", url: "b.example.com:443"},
		rec{method: "CONNECT", url: "c.example.com:443"},
	)
	tables, _ := suggestFrom(t, input, Options{})
	rules := egress(t, tables["web"]) // validation checks names are valid and unique
	names := make(map[string]bool)
	for _, r := range rules {
		names[r.Name] = true
	}
	if len(names) != len(rules) {
		t.Errorf("names not unique: %+v", rules)
	}
}

func TestFilters(t *testing.T) {
	input := lines(
		rec{url: "http://early.example/", ts: "2026-11-24T23:59:59Z"},
		rec{url: "http://kept.example/", ts: "2026-11-25T00:00:00Z"},
		rec{url: "http://kept.example/", ts: "2026-11-25T12:00:00Z"},
		rec{url: "http://rare.example/", ts: "2026-11-25T12:00:00Z"},
		rec{url: "http://late.example/", ts: "2026-11-26T00:00:00Z"},
	)
	opts := Options{
		Since:    time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		Until:    time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC),
		MinCount: 2,
	}
	tables, stderr := suggestFrom(t, input, opts)
	rules := egress(t, tables["web"])
	if len(rules) != 1 || rules[0].Host != "kept.example" {
		t.Errorf("rules %+v, want only kept.example", rules)
	}
	if !strings.Contains(stderr, "dropped by --min-count 2: 1 destination\nsuggest:   rare.example:80: 1 request at") {
		t.Errorf("stderr does not list the dropped destination:\n%s", stderr)
	}
}

func TestGzipInput(t *testing.T) {
	input := lines(rec{url: "http://a.example/"}, rec{method: "CONNECT", url: "b.example:443"})
	dir := t.TempDir()
	plain, zipped := filepath.Join(dir, "audit.log"), filepath.Join(dir, "audit.log.1") // names say nothing
	if err := os.WriteFile(plain, []byte(input), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(input))
	zw.Close()
	if err := os.WriteFile(zipped, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out1, out2, errs bytes.Buffer
	if err := Run(Options{}, []string{plain}, nil, &out1, &errs); err != nil {
		t.Fatal(err)
	}
	if err := Run(Options{}, []string{zipped}, nil, &out2, &errs); err != nil {
		t.Fatal(err)
	}
	if out1.String() != out2.String() || !strings.Contains(out1.String(), "host: b.example") {
		t.Errorf("gzip and plain differ:\n%s\n---\n%s", out1.String(), out2.String())
	}
}

func TestMalformedLines(t *testing.T) {
	input := "not json\n" +
		lines(rec{url: "http://a.example/"}) +
		`{"ts":"yesterday","method":"GET","url":"http://b.example/","decision":"allow","workload":"web"}` + "\n" +
		`{"ts":"2026-11-25T12:00:00Z","method":"GET","url":"http://b.example/","decision":"maybe","workload":"web"}` + "\n" +
		`{"ts":"2026-11-25T12:00:00Z","method":"GET","url":"ftp://b.example/","decision":"allow","workload":"web"}` + "\n" +
		`{"ts":"2026-11-25T12:00:00Z","method":"GET","url":"http://b.example/","decision":"allow","workload":"Not_A_Label"}` + "\n" +
		"\n" + // blank lines are not malformed
		`{"ts":"2026-11-25T12:00:00Z","method":"GET","url":"http://b.example/` + strings.Repeat("x", 1100) + `","decision":"allow","workload":"web"}` + "\n" +
		lines(rec{url: "http://c.example/"})
	var stdout, stderr bytes.Buffer
	err := Run(Options{MaxLineBytes: 1024}, nil, strings.NewReader(input), &stdout, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"8 lines read: 2 used, 0 allowed by routes (not suggested), 5 malformed (skipped), 1 over the line limit (skipped)",
		"stdin:1: not an audit line (JSON: ",
		`stdin:3: ts "yesterday" is not an RFC 3339 time`,
		`stdin:4: decision "maybe" is not allow, deny or would_deny`,
		`stdin:5: url "ftp://b.example/": not an http URL`,
		"stdin:6: workload: metadata.name:",
		"stdin:8: longer than 1024 bytes",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "host: a.example") || !strings.Contains(stdout.String(), "host: c.example") ||
		strings.Contains(stdout.String(), "b.example") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
}

func TestWorkloadField(t *testing.T) {
	noWorkload := `{"ts":"2026-11-25T12:00:00Z","method":"GET","url":"http://a.example/","decision":"allow","workload":""}` + "\n"
	var stdout, stderr bytes.Buffer
	err := Run(Options{}, nil, strings.NewReader(lines(rec{url: "http://b.example/"})+noWorkload), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), `suggest: stdin:2: the audit line has no "workload" field`) ||
		!strings.Contains(err.Error(), "--workload NAME") {
		t.Fatalf("error %v, want one naming stdin:2 and --workload", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout written on error: %q", stdout.String())
	}
	stdout.Reset()
	if err := Run(Options{Workload: "legacy"}, nil, strings.NewReader(noWorkload), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), "name: legacy") {
		t.Errorf("--workload not used:\n%s", stdout.String())
	}
}

func TestOutDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	input := lines(rec{url: "http://a.example/"}, rec{url: "http://b.example/", workload: "api"})
	var stdout, stderr bytes.Buffer
	if err := Run(Options{OutDir: dir}, nil, strings.NewReader(input), &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout %q, want nothing with -o", stdout.String())
	}
	for w, host := range map[string]string{"web": "a.example", "api": "b.example"} {
		data, err := os.ReadFile(filepath.Join(dir, w+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "host: "+host) || !strings.Contains(string(data), "name: "+w) {
			t.Errorf("%s.yaml:\n%s", w, data)
		}
	}
}

func TestOptionErrors(t *testing.T) {
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"since after until", Options{Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}, "is not before --until"},
		{"negative depth", Options{PathDepth: -1}, "--path-depth -1"},
		{"bad workload", Options{Workload: "Web_1"}, "--workload: metadata.name"},
		{"merge and report", Options{Merge: "x.yaml", Report: true}, "--merge and --report"},
		{"missing merge file", Options{Merge: "/nonexistent/web.yaml"}, "--merge: routes: open /nonexistent/web.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := Run(tc.opts, nil, strings.NewReader(lines(rec{url: "http://a.example/"})), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "suggest: ") {
				t.Errorf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEmptyInput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := Run(Options{}, nil, strings.NewReader(""), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "no audit lines to suggest from (the input has no lines)") {
		t.Errorf("error %v", err)
	}
}
