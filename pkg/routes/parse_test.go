package routes

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
)

func TestParseDesignExample(t *testing.T) {
	rt, err := Load("testdata/valid/design.yaml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if rt.Metadata.Name != "numbers-web" || rt.Spec.Mode != policy.Enforce {
		t.Errorf("metadata/mode = %q/%q, want numbers-web/enforce", rt.Metadata.Name, rt.Spec.Mode)
	}
	if len(rt.Spec.Routes) != 1 || len(rt.Spec.Egress) != 2 {
		t.Fatalf("got %d routes and %d egress rules, want 1 and 2", len(rt.Spec.Routes), len(rt.Spec.Egress))
	}
	r := rt.Spec.Routes[0]
	if r.Name != "rng" || r.Source != "http://localhost/api" ||
		r.Target != "http://numbers-api/sixeyed/kiamol/master/ch03/numbers/rng" {
		t.Errorf("route = %+v", r)
	}
	if time.Duration(r.Timeout) != 5*time.Second {
		t.Errorf("timeout = %v, want 5s", r.Timeout)
	}
	want := RetryPolicy{Attempts: 3, PerTryTimeout: Duration(time.Second), RetryOn: []string{"connect-failure", "gateway-error"}}
	if r.Retry == nil || r.Retry.Attempts != want.Attempts || r.Retry.PerTryTimeout != want.PerTryTimeout ||
		strings.Join(r.Retry.RetryOn, ",") != strings.Join(want.RetryOn, ",") {
		t.Errorf("retry = %+v, want %+v", r.Retry, want)
	}
	e := rt.Spec.Egress[1]
	if e.Name != "timecheck-health" || e.Host != "timecheck" || len(e.Ports) != 1 || e.Ports[0].From != 8080 ||
		len(e.Methods) != 1 || e.Methods[0] != "GET" || len(e.Paths) != 1 || e.Paths[0] != "/healthz" {
		t.Errorf("egress[1] = %+v", e)
	}
}

func TestParseValidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("valid fixtures: %v, %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rt, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if _, err := Compile(rt, policy.Options{}); err != nil {
				t.Fatalf("Compile: %v", err)
			}
		})
	}
}

// TestLoadInvalidFixtures checks one fixture per failure mode: exactly one
// problem, with its field path and its full message.
func TestLoadInvalidFixtures(t *testing.T) {
	tests := []struct {
		file string
		path string // the FieldError's Path ("" for the whole document)
		msg  string // the FieldError's message
	}{
		{"empty", "", "empty document (write a RouteTable: apiVersion: meshlite/v1, kind: RouteTable, metadata and spec)"},
		{"comments-only", "", "empty document (write a RouteTable: apiVersion: meshlite/v1, kind: RouteTable, metadata and spec)"},
		{"two-documents", "", `a second YAML document starts here (put one RouteTable per file; remove the "---")`},
		{"syntax-error", "", "invalid YAML: did not find expected ',' or ']'"},
		{"not-a-mapping", "", "the document must be a mapping (with apiVersion: meshlite/v1, kind: RouteTable, metadata and spec)"},
		{"apiversion-missing", "apiVersion", `required (use "meshlite/v1")`},
		{"apiversion-wrong", "apiVersion", `"meshlite/v2" not supported (use "meshlite/v1")`},
		{"kind-wrong", "kind", `"ConfigMap" not supported (use "RouteTable")`},
		{"unknown-field-top", "status", "unknown field at line 10 (allowed here: apiVersion, kind, metadata, spec)"},
		{"unknown-field-route", "spec.routes[0].timout", "unknown field at line 10 (allowed here: name, source, target, timeout, retry)"},
		{"unknown-field-retry", "spec.routes[0].retry.backoff", "unknown field at line 10 (allowed here: attempts, perTryTimeout, retryOn, nonIdempotent)"},
		{"duplicate-key", "spec.routes[0].target", `"target" is written twice, at lines 9 and 10 (keep one)`},
		{"name-missing", "metadata.name", "required (the workload's app label, for example numbers-web)"},
		{"name-not-dns-label", "metadata.name", `"Numbers_Web" is not a DNS-1123 label (use lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)`},
		{"name-too-long", "metadata.name", `"` + strings.Repeat("a", 64) + `" is not a DNS-1123 label`},
		{"mode-invalid", "spec.mode", `"audit" not supported (use enforce or report)`},
		{"route-name-missing", "spec.routes[0].name", "required (a short name used in audit lines and metrics, for example rng)"},
		{"route-name-invalid", "spec.routes[0].name", `"Random Numbers" not allowed (use lower-case letters, digits, '-', '_' and '.', at most 63 characters)`},
		{"route-name-duplicate", "spec.routes[1].name", `"rng" is already the name of spec.routes[0] (route names must be unique)`},
		{"source-missing", "spec.routes[0].source", "required (an absolute URL such as http://localhost/api)"},
		{"source-relative", "spec.routes[0].source", `"/api" is not an absolute URL (write scheme and host: http://localhost/api)`},
		{"source-https", "spec.routes[0].source", `scheme "https" not supported for a source (use http: apps call the ambassador in plain HTTP)`},
		{"source-userinfo", "spec.routes[0].source", `must not contain user information (remove "user@"; credentials do not belong in a route)`},
		{"source-query", "spec.routes[0].source", `must not contain a query (remove "?..."; the request's own query is passed on)`},
		{"source-fragment", "spec.routes[0].source", `must not contain a fragment (remove "#...")`},
		{"source-no-host", "spec.routes[0].source", "host required (for example http://localhost/api)"},
		{"source-port-zero", "spec.routes[0].source", "port 0 out of range (use 1..65535)"},
		{"source-port-too-big", "spec.routes[0].source", "port 70000 out of range (use 1..65535)"},
		{"source-path-not-clean", "spec.routes[0].source", `path "/api/../x" is not in clean form (write "/x")`},
		{"source-escaped-slash", "spec.routes[0].source", `path "/a%2Fb": escapes such as %2F are not supported in a source (write the path unescaped)`},
		{"source-duplicate", "spec.routes[1].source", `same source as route "rng" (spec.routes[0]): http://localhost/api/ (each source must be unique; merge the routes or change one path)`},
		{"target-missing", "spec.routes[0].target", "required (an absolute URL such as http://numbers-api/path)"},
		{"target-scheme", "spec.routes[0].target", `scheme "ftp" not supported (use http or https)`},
		{"target-no-host", "spec.routes[0].target", "host required (for example http://numbers-api/path)"},
		{"target-query", "spec.routes[0].target", `must not contain a query (remove "?..."; the request's own query is passed on)`},
		{"target-userinfo", "spec.routes[0].target", `must not contain user information (remove "user@"; credentials do not belong in a route)`},
		{"target-fragment", "spec.routes[0].target", `must not contain a fragment (remove "#...")`},
		{"target-port-invalid", "spec.routes[0].target", "port 99999 out of range (use 1..65535)"},
		{"target-host-invalid", "spec.routes[0].target", `invalid URL "http://numbers api/rng": invalid character " " in host name (write an absolute URL such as http://numbers-api/path)`},
		{"target-host-not-ascii", "spec.routes[0].target", `host "bücher.example": not ASCII (write international names in punycode: xn--...)`},
		{"timeout-negative", "spec.routes[0].timeout", "-1s is negative (use a positive duration such as 5s, or 0 for the default)"},
		{"timeout-no-unit", "spec.routes[0].timeout", `invalid duration "5" (use a number with a unit: 250ms, 5s, 1m) (line 10)`},
		{"attempts-out-of-range", "spec.routes[0].retry.attempts", "11 out of range (use 0..10; it counts the first try, 1 means no retry)"},
		{"attempts-not-number", "spec.routes[0].retry.attempts", "expected a whole number, got three (line 11)"},
		{"per-try-negative", "spec.routes[0].retry.perTryTimeout", "-1s is negative (use a positive duration such as 1s, or 0 for none)"},
		{"per-try-exceeds-timeout", "spec.routes[0].retry.perTryTimeout", "3s is longer than the route timeout 2s (a try cannot outlast the whole call; shorten it or raise timeout)"},
		{"retry-on-status", "spec.routes[0].retry.retryOn[1]", `"404" not supported (use connect-failure, reset, 5xx, gateway-error, or a status code 500..599)`},
		{"retry-on-both-names", "spec.routes[0].retry.on", "given with retryOn (on is retryOn's deprecated name; keep retryOn only)"},
		{"retry-on-name", "spec.routes[0].retry.retryOn[0]", `"timeout" not supported (use connect-failure, reset, 5xx, gateway-error, or a status code 500..599)`},
		{"egress-ports-missing", "spec.egress[0].ports", "required"},
		{"egress-port-not-number", "spec.egress[0].ports[0]", `port "https": not a number`},
		{"deny-cidrs-not-prefix", "spec.denyCidrs[1]", `cidr "203.0.113.7" is an address, not a prefix (write "203.0.113.7/32")`},
		{"deny-cidrs-host-bits", "spec.denyCidrs[0]", `cidr "10.1.2.3/8" has host bits set (write the masked form "10.0.0.0/8")`},
		{"deny-cidrs-not-list", "spec.denyCidrs", "expected a list"},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			file := "testdata/invalid/" + tt.file + ".yaml"
			seen[file] = true
			rt, err := Load(file)
			if err == nil {
				t.Fatalf("Load(%s) = %+v, want an error", file, rt)
			}
			got := lines(err)
			if len(got) != 1 {
				t.Fatalf("want exactly one problem, got %d:\n%v", len(got), err)
			}
			prefix := file + ": "
			if tt.path != "" {
				prefix += tt.path + ": "
			}
			if !strings.HasPrefix(got[0], prefix) || !strings.Contains(got[0], tt.msg) {
				t.Errorf("error\n  %s\nwant prefix %q and message %q", got[0], prefix, tt.msg)
			}
			checkFieldPath(t, err, tt.path)
		})
	}
	t.Run("every fixture has a case", func(t *testing.T) {
		files, _ := filepath.Glob("testdata/invalid/*.yaml")
		for _, f := range files {
			if !seen[f] {
				t.Errorf("fixture %s has no test case", f)
			}
		}
	})
}

// checkFieldPath asserts that err carries a problem with this field path:
// a routes *FieldError, or for egress rules the policy's own error type.
func checkFieldPath(t *testing.T, err error, path string) {
	t.Helper()
	var fe *FieldError
	var pe *policy.FieldError
	switch {
	case errors.As(err, &fe):
		if fe.Path != path {
			t.Errorf("FieldError.Path = %q, want %q", fe.Path, path)
		}
	case errors.As(err, &pe):
		if pe.Path != path {
			t.Errorf("policy.FieldError.Path = %q, want %q", pe.Path, path)
		}
	default:
		t.Errorf("%v: no FieldError inside", err)
	}
}

func TestParseReportsEveryProblemWithLines(t *testing.T) {
	doc := header + `  mode: audit
  routes:
    - name: rng
      source: https://localhost/api
      target: ftp://numbers-api/rng
      timeout: -5s
`
	_, err := Parse([]byte(doc))
	checkProblems(t, err, []wantProblem{
		{"spec.mode", 6},
		{"spec.routes[0].source", 9},
		{"spec.routes[0].target", 10},
		{"spec.routes[0].timeout", 11},
	})
}

type wantProblem struct {
	path string
	line int
}

// checkProblems asserts that err holds exactly want, in order, one line each.
func checkProblems(t *testing.T, err error, want []wantProblem) {
	t.Helper()
	got := fieldErrors(t, err)
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(got), len(want), err)
	}
	for i, w := range want {
		if got[i].Path != w.path || got[i].Line != w.line {
			t.Errorf("problem %d = %q at line %d, want %q at line %d", i, got[i].Path, got[i].Line, w.path, w.line)
		}
	}
	if n := len(lines(err)); n != len(want) {
		t.Errorf("error has %d lines, want one per problem (%d)", n, len(want))
	}
}

// Every unknown field is reported, and so is what the rest of the
// document gets wrong: a misspelt key shows with the field it leaves
// missing, and an unrelated mistake is not hidden behind it.
func TestParseUnknownFieldsAllReported(t *testing.T) {
	doc := header + `  routes:
    - name: rng
      sorce: http://localhost/api
      target: http://numbers-api/rng
      retry: {attempts: 2, tries: 3}
    - name: other
      source: http://localhost/other
      target: ftp://numbers-api/other
`
	_, err := Parse([]byte(doc))
	checkProblems(t, err, []wantProblem{
		{"spec.routes[0].sorce", 8},
		{"spec.routes[0].retry.tries", 10},
		{"spec.routes[0].source", 7}, // missing: the line of its route
		{"spec.routes[1].target", 13},
	})
}

// A value of the wrong type stops the check there: what was decoded is not
// trusted enough to validate.
func TestParseTypeErrorIsNotFollowedByValidation(t *testing.T) {
	doc := header + `  routes:
    - name: rng
      source: http://localhost/api
      target: http://numbers-api/rng
      retry: {attempts: many}
`
	_, err := Parse([]byte(doc))
	got := fieldErrors(t, err)
	if len(got) != 1 || got[0].Path != "spec.routes[0].retry.attempts" {
		t.Fatalf("problems = %v, want only spec.routes[0].retry.attempts", err)
	}
}

func TestParseSizeLimit(t *testing.T) {
	doc := []byte(header + "  routes: []\n")
	pad := make([]byte, MaxDocumentSize+1-len(doc))
	for i := range pad {
		pad[i] = ' '
	}
	big := append(doc, pad...)
	_, err := Parse(big)
	if err == nil || !strings.Contains(err.Error(), "over the 1048576-byte (1 MiB) limit") {
		t.Fatalf("Parse(%d bytes) error = %v, want the size limit", len(big), err)
	}
	if _, err := Parse(big[:MaxDocumentSize]); err != nil {
		t.Errorf("Parse(exactly the limit) = %v, want it accepted", err)
	}

	file := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(file, big, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(file)
	if err == nil || !strings.HasPrefix(err.Error(), file+": document is") {
		t.Errorf("Load(big) error = %v, want the size limit prefixed by the file name", err)
	}
}

func TestLoadMissingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := Load(file)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), file) {
		t.Fatalf("Load(missing) = %v, want a not-exist error naming the file", err)
	}
}

func TestValidateWithoutYAML(t *testing.T) {
	tests := []struct {
		name string
		rt   *RouteTable
		want string
	}{
		{"nil table", nil, "no RouteTable (nil)"},
		{"zero table", &RouteTable{}, "apiVersion: required (use \"meshlite/v1\")\nkind: required (use \"RouteTable\")\n" +
			"metadata.name: required (the workload's app label, for example numbers-web)"},
		{"valid", &RouteTable{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "web"},
			Spec: Spec{Routes: []Route{{Name: "a", Source: "http://localhost/a", Target: "http://a"}}}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rt.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestParseWarnRetryOnAlias: the deprecated retry key on still loads, into
// RetryOn, with a warning naming its path and line.
func TestParseWarnRetryOnAlias(t *testing.T) {
	doc := `apiVersion: meshlite/v1
kind: RouteTable
metadata:
  name: numbers-web
spec:
  routes:
    - name: a
      source: http://localhost/a
      target: http://numbers-api/a
      retry: {attempts: 2, retryOn: [reset]}
    - name: b
      source: http://localhost/b
      target: http://numbers-api/b
      retry:
        attempts: 3
        on: [5xx, "503"]
`
	rt, warnings, err := ParseWarn([]byte(doc))
	if err != nil {
		t.Fatalf("ParseWarn: %v", err)
	}
	if len(warnings) != 1 {
		t.Fatalf("warnings = %v, want one (for routes[1] only)", warnings)
	}
	w := warnings[0]
	if w.Path != "spec.routes[1].retry.on" || w.Line != 16 || !strings.HasPrefix(w.Msg, "deprecated: rename on to retryOn") {
		t.Errorf("warning = %+v, want path spec.routes[1].retry.on, line 16, a rename hint", w)
	}
	rp := rt.Spec.Routes[1].Retry
	if strings.Join(rp.RetryOn, ",") != "5xx,503" || rp.On != nil {
		t.Errorf("retry = %+v, want RetryOn [5xx 503] and On nil", rp)
	}
	table, err := Compile(rt, policy.Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	if c := table.Routes()[1]; !c.On.Status5xx || c.On.ConnectFailure {
		t.Errorf("compiled retry conditions = %+v, want 5xx (not the default)", c.On)
	}
}
