package routes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/policy"
)

// FuzzParse: Parse never panics, every problem is one non-empty line, and
// a document Parse accepts compiles and survives a YAML round trip.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rt, err := Parse(data)
		if err != nil {
			for _, p := range Problems(err) {
				if msg := p.Error(); msg == "" || strings.Contains(msg, "\n") {
					t.Fatalf("problem %q is not one non-empty line", msg)
				}
			}
			return
		}
		if _, err := Compile(rt, policy.Options{}); err != nil {
			t.Fatalf("Parse accepted a document that does not compile: %v", err)
		}
		out, err := yaml.Marshal(rt)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if _, err := Parse(out); err != nil {
			t.Fatalf("re-parse of\n%s\nfailed: %v", out, err)
		}
	})
}

// FuzzMatchRewrite: whatever the path, a match is the match of its clean
// form, and the rewritten path stays under the route's target path.
func FuzzMatchRewrite(f *testing.F) {
	for _, p := range []string{"/", "", "/api", "/api/", "/api/../x", "/api/./x", "//api", "/api/..",
		"/api/v2/../../apix", "api", "/api/%2e%2e", "/m/../../m", "/apix/..//api/v2/"} {
		f.Add(p)
	}
	tbl := mustCompile(f, matchDoc+`    - name: esc
      source: http://localhost/esc
      target: http://svc/a%2Fb/
`)
	f.Fuzz(func(t *testing.T, p string) {
		r := tbl.Match("http", "localhost", 80, p)
		if r != tbl.Match("http", "localhost", 80, policy.CleanPath(p)) {
			t.Fatalf("Match(%q) differs from Match(%q)", p, policy.CleanPath(p))
		}
		if r == nil {
			return
		}
		u := r.Rewrite(p, "")
		if !policy.HasPathPrefix(u.Path, prefixOf(r.Target.Path)) {
			t.Fatalf("route %s: Rewrite(%q) = %q, outside the target path %q", r.Name, p, u.Path, r.Target.Path)
		}
		if policy.CleanPath(u.Path) != u.Path {
			t.Fatalf("route %s: Rewrite(%q) = %q, not clean", r.Name, p, u.Path)
		}
		if u.Scheme != r.Target.Scheme || u.Host != r.Target.Host {
			t.Fatalf("Rewrite(%q) went to %s://%s, want the target %s", p, u.Scheme, u.Host, r.Target)
		}
	})
}
