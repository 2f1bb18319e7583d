package routes

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/policy"
)

func TestCompileRoutes(t *testing.T) {
	tbl := mustCompile(t, header+`  routes:
    - name: plain
      source: http://localhost/api
      target: http://numbers-api/rng
    - name: tuned
      source: http://LOCALHOST:8080/x/
      target: https://Secure.Example/v1
      timeout: 5s
      retry: {attempts: 4, perTryTimeout: 1500ms, retryOn: [reset, 5xx, "503", "503"], nonIdempotent: true}
    - name: zero-attempts
      source: http://localhost/z
      target: http://z:9000
      retry: {perTryTimeout: 1s}
`)
	if tbl.Name != "numbers-web" || tbl.Mode != policy.Enforce || tbl.Policy == nil || tbl.Source == nil {
		t.Fatalf("table = %q mode %q policy %v source %v", tbl.Name, tbl.Mode, tbl.Policy, tbl.Source)
	}
	if tbl.Policy.Mode() != policy.Enforce {
		t.Errorf("policy mode = %q, want enforce", tbl.Policy.Mode())
	}
	tests := []struct {
		name                   string
		source, target         string
		sourcePort, targetPort uint16
		timeout, perTry        time.Duration
		attempts               int
		on                     RetryOn
		nonIdempotent          bool
	}{
		{"plain", "http://localhost/api", "http://numbers-api/rng", 80, 80, 0, 0, 1, DefaultRetryOn(), false},
		{"tuned", "http://localhost:8080/x/", "https://secure.example/v1", 8080, 443, 5 * time.Second,
			1500 * time.Millisecond, 4, RetryOn{Reset: true, Status5xx: true, Codes: []int{503}}, true},
		{"zero-attempts", "http://localhost/z", "http://z:9000/", 80, 9000, 0, time.Second, 1, DefaultRetryOn(), false},
	}
	routes := tbl.Routes()
	if len(routes) != len(tests) {
		t.Fatalf("got %d routes, want %d", len(routes), len(tests))
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := routes[i]
			if c.Name != tt.name || c.Source.String() != tt.source || c.Target.String() != tt.target {
				t.Errorf("route = %s %s → %s, want %s %s → %s", c.Name, c.Source, c.Target, tt.name, tt.source, tt.target)
			}
			if c.SourcePort != tt.sourcePort || c.TargetPort != tt.targetPort {
				t.Errorf("ports = %d → %d, want %d → %d", c.SourcePort, c.TargetPort, tt.sourcePort, tt.targetPort)
			}
			if c.Timeout != tt.timeout || c.PerTryTimeout != tt.perTry || c.Attempts != tt.attempts ||
				c.NonIdempotent != tt.nonIdempotent {
				t.Errorf("timing = %v/%v/%d/%v, want %v/%v/%d/%v", c.Timeout, c.PerTryTimeout, c.Attempts,
					c.NonIdempotent, tt.timeout, tt.perTry, tt.attempts, tt.nonIdempotent)
			}
			if c.On.ConnectFailure != tt.on.ConnectFailure || c.On.Reset != tt.on.Reset ||
				c.On.Status5xx != tt.on.Status5xx || c.On.GatewayError != tt.on.GatewayError ||
				!slices.Equal(c.On.Codes, tt.on.Codes) {
				t.Errorf("On = %+v, want %+v", c.On, tt.on)
			}
		})
	}
}

func TestCompileRejectsInvalid(t *testing.T) {
	_, err := Compile(&RouteTable{APIVersion: APIVersion, Kind: Kind}, policy.Options{})
	if err == nil || !strings.Contains(err.Error(), "metadata.name: required") {
		t.Fatalf("Compile(no name) = %v, want metadata.name: required", err)
	}
	if _, err := Compile(nil, policy.Options{}); err == nil {
		t.Fatal("Compile(nil) succeeded")
	}
}

func TestCompileReportMode(t *testing.T) {
	tbl := mustCompile(t, header+"  mode: report\n")
	if tbl.Mode != policy.Report || tbl.Policy.Mode() != policy.Report {
		t.Errorf("mode = %q, policy mode %q, want report", tbl.Mode, tbl.Policy.Mode())
	}
}

func TestCompileKeepsItsOwnCopy(t *testing.T) {
	rt, err := Load("testdata/valid/design.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := Compile(rt, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt.Metadata.Name = "changed"
	rt.Spec.Routes[0].Target = "http://elsewhere/"
	rt.Spec.Routes[0].Retry.RetryOn[0] = "5xx"
	rt.Spec.Egress[1].Paths[0] = "/admin"
	src := tbl.Source
	if src.Metadata.Name != "numbers-web" || src.Spec.Routes[0].Target != "http://numbers-api/sixeyed/kiamol/master/ch03/numbers/rng" ||
		src.Spec.Routes[0].Retry.RetryOn[0] != "connect-failure" || src.Spec.Egress[1].Paths[0] != "/healthz" {
		t.Errorf("table's document changed with its input: %+v", src)
	}
}

func TestLocalPorts(t *testing.T) {
	tests := []struct {
		name   string
		routes string
		want   []uint16
	}{
		{"none", "", nil},
		{"localhost default port", "    - {name: a, source: http://localhost/a, target: http://a}\n", []uint16{80}},
		{"distinct and ascending", `    - {name: a, source: "http://localhost:9000/a", target: http://a}
    - {name: b, source: "http://127.0.0.1:8080/b", target: http://b}
    - {name: c, source: "http://[::1]:8080/c", target: http://c}
    - {name: d, source: http://localhost/d, target: http://d}
    - {name: e, source: "http://localhost:9000/e", target: http://e}
`, []uint16{80, 8080, 9000}},
		{"remote sources are not local", `    - {name: a, source: "http://example.com:81/a", target: http://a}
    - {name: b, source: "http://10.0.0.1:82/b", target: http://b}
    - {name: c, source: "http://LocalHost.:83/c", target: http://c}
`, []uint16{83}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := header
			if tt.routes != "" {
				doc += "  routes:\n" + tt.routes
			}
			tbl := mustCompile(t, doc)
			got := tbl.LocalPorts()
			if !slices.Equal(got, tt.want) {
				t.Errorf("LocalPorts() = %v, want %v", got, tt.want)
			}
			if len(got) > 0 {
				got[0] = 1
				if tbl.LocalPorts()[0] == 1 {
					t.Error("LocalPorts returned the table's own slice")
				}
			}
		})
	}
}

func TestRoutesDocumentOrder(t *testing.T) {
	tbl := mustCompile(t, matchDoc)
	var names []string
	for _, c := range tbl.Routes() {
		names = append(names, c.Name)
	}
	want := []string{"root", "api", "api-v2", "apix", "other-port", "remote", "v6"}
	if !slices.Equal(names, want) {
		t.Errorf("Routes() = %v, want %v", names, want)
	}
	if tbl.Route("apix") == nil || tbl.Route("nope") != nil {
		t.Error("Route(name) lookup wrong")
	}
}

func TestRetryOnStatus(t *testing.T) {
	tests := []struct {
		name string
		on   RetryOn
		code int
		want bool
	}{
		{"default retries 503", DefaultRetryOn(), 503, true},
		{"default does not retry 500", DefaultRetryOn(), 500, false},
		{"5xx retries 500", RetryOn{Status5xx: true}, 500, true},
		{"5xx does not retry 404", RetryOn{Status5xx: true}, 404, false},
		{"listed code", RetryOn{Codes: []int{509}}, 509, true},
		{"unlisted code", RetryOn{Codes: []int{509}}, 503, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.on.RetriesStatus(tt.code); got != tt.want {
				t.Errorf("RetriesStatus(%d) = %v, want %v", tt.code, got, tt.want)
			}
		})
	}
}

func TestDurationEncoding(t *testing.T) {
	type doc struct {
		D Duration `yaml:"d" json:"d"`
	}
	tests := []struct {
		name, yaml, json string
		want             time.Duration
		wantErr          string
	}{
		{"seconds", "d: 5s", `{"d":"5s"}`, 5 * time.Second, ""},
		{"milliseconds", "d: 250ms", `{"d":"250ms"}`, 250 * time.Millisecond, ""},
		{"compound", "d: 1m30s", `{"d":"1m30s"}`, 90 * time.Second, ""},
		{"negative parses (Validate rejects it)", "d: -2s", `{"d":"-2s"}`, -2 * time.Second, ""},
		{"no unit", "d: 5", `{"d":"5"}`, 0, `invalid duration "5"`},
		{"garbage", "d: soon", `{"d":"soon"}`, 0, `invalid duration "soon"`},
		{"not a scalar", "d: [1s]", `{"d":["1s"]}`, 0, "duration"},
		{"number in JSON", "", `{"d":5}`, 0, "must be a JSON string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.yaml != "" {
				var d doc
				err := yaml.Unmarshal([]byte(tt.yaml), &d)
				checkDuration(t, "YAML", d.D, err, tt.want, tt.wantErr)
			}
			var d doc
			err := json.Unmarshal([]byte(tt.json), &d)
			checkDuration(t, "JSON", d.D, err, tt.want, tt.wantErr)
		})
	}

	out, err := yaml.Marshal(doc{D: Duration(1500 * time.Millisecond)})
	if err != nil || string(out) != "d: 1.5s\n" {
		t.Errorf("yaml.Marshal = %q, %v, want \"d: 1.5s\\n\"", out, err)
	}
	js, err := json.Marshal(doc{D: Duration(time.Minute)})
	if err != nil || string(js) != `{"d":"1m0s"}` {
		t.Errorf("json.Marshal = %s, %v, want {\"d\":\"1m0s\"}", js, err)
	}
	var back doc
	if err := json.Unmarshal(js, &back); err != nil || time.Duration(back.D) != time.Minute {
		t.Errorf("JSON round trip = %v, %v", back.D, err)
	}
}

func checkDuration(t *testing.T, format string, got Duration, err error, want time.Duration, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%s: error = %v, want %q", format, err, wantErr)
		}
		return
	}
	if err != nil || time.Duration(got) != want {
		t.Errorf("%s: got %v, %v, want %v", format, got, err, want)
	}
}
