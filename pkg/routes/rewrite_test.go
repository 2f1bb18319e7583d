package routes

import (
	"testing"

	"github.com/meshlite/meshlite/pkg/policy"
)

func TestRewrite(t *testing.T) {
	tbl := mustCompile(t, matchDoc+`    - name: escaped
      source: http://localhost/esc
      target: http://svc/a%2Fb
    - name: default-port
      source: http://localhost/dp
      target: https://secure.example:443/x/
    - name: no-path
      source: http://localhost/np
      target: http://bare
`)
	tests := []struct {
		name  string
		route string
		path  string
		query string
		want  string
	}{
		{"prefix only", "api", "/api", "", "http://numbers-api/rng"},
		{"trailing slash kept", "api", "/api/", "", "http://numbers-api/rng/"},
		{"remainder appended", "api", "/api/x/y", "", "http://numbers-api/rng/x/y"},
		{"query kept", "api", "/api/x", "a=1&b=%2F", "http://numbers-api/rng/x?a=1&b=%2F"},
		{"cleaned before rewrite", "api", "/api/./x//y/../z", "", "http://numbers-api/rng/x/z"},
		{"root target no double slash", "root", "/x", "", "http://fallback/x"},
		{"root target root path", "root", "/", "", "http://fallback/"},
		{"root source keeps whole path", "root", "/a/b/", "q", "http://fallback/a/b/?q"},
		{"target with trailing slash and remainder", "api-v2", "/api/v2/u", "", "https://api-v2.example/base/u"},
		{"target with trailing slash, no remainder", "api-v2", "/api/v2", "", "https://api-v2.example/base/"},
		{"non-default port kept", "apix", "/apix/1", "", "http://apix:8080/1"},
		{"non-default port, empty target path", "apix", "/apix", "", "http://apix:8080/"},
		{"ipv6 target", "v6", "/m", "", "http://[fd00::10]:9100/metrics"},
		{"remainder escaped", "remote", "/mirror/a b/ü", "", "http://mirror/files/a%20b/%C3%BC"},
		{"target escapes preserved", "escaped", "/esc/c d", "", "http://svc/a%2Fb/c%20d"},
		{"default https port dropped", "default-port", "/dp/y", "", "https://secure.example/x/y"},
		{"target without path", "no-path", "/np", "", "http://bare/"},
		{"target without path, remainder", "no-path", "/np/z", "", "http://bare/z"},
		{"path that did not match goes to the target path", "api", "/other/x", "", "http://numbers-api/rng"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tbl.Route(tt.route)
			if r == nil {
				t.Fatalf("no route %q", tt.route)
			}
			u := r.Rewrite(tt.path, tt.query)
			if got := u.String(); got != tt.want {
				t.Errorf("Rewrite(%q, %q) = %s, want %s", tt.path, tt.query, got, tt.want)
			}
			if u.Host != r.Target.Host {
				t.Errorf("Host = %q, want the target's %q", u.Host, r.Target.Host)
			}
		})
	}
}

// TestRewriteTraversal: a matched path can never leave the target path.
func TestRewriteTraversal(t *testing.T) {
	tbl := mustCompile(t, matchDoc)
	for _, p := range []string{"/api/..", "/api/../..", "/api/x/../../../etc/passwd", "/api/./../api/..", "//api//..//x"} {
		t.Run(p, func(t *testing.T) {
			r := tbl.Match("http", "localhost", 80, p)
			if r == nil {
				t.Fatalf("no match for %q", p)
			}
			u := r.Rewrite(p, "")
			if !policy.HasPathPrefix(u.Path, prefixOf(r.Target.Path)) {
				t.Errorf("route %s: Rewrite(%q) = %q, outside the target path %q", r.Name, p, u.Path, r.Target.Path)
			}
		})
	}
}

func BenchmarkRewrite(b *testing.B) {
	tbl := benchTable(b)
	r := tbl.Match("http", "localhost", 80, "/svc3/v17/users/42")
	if r == nil {
		b.Fatal("no match")
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Rewrite("/svc3/v17/users/42", "page=2")
	}
}
