package routes

import (
	"fmt"
	"testing"

	"github.com/meshlite/meshlite/pkg/policy"
)

// matchDoc has overlapping prefixes, several ports and hosts.
const matchDoc = header + `  routes:
    - name: root
      source: http://localhost/
      target: http://fallback/
    - name: api
      source: http://localhost/api
      target: http://numbers-api/rng
    - name: api-v2
      source: http://localhost/api/v2/
      target: https://api-v2.example/base/
    - name: apix
      source: http://localhost/apix
      target: http://apix:8080
    - name: other-port
      source: http://localhost:8080/api
      target: http://eight/
    - name: remote
      source: http://Backup.Example/mirror
      target: http://mirror/files
    - name: v6
      source: http://[::1]:9090/m
      target: http://[fd00::10]:9100/metrics
`

func TestMatch(t *testing.T) {
	tbl := mustCompile(t, matchDoc)
	tests := []struct {
		name   string
		scheme string
		host   string
		port   uint16
		path   string
		want   string // route name, "" for no match
	}{
		{"exact prefix", "http", "localhost", 80, "/api", "api"},
		{"prefix with trailing slash", "http", "localhost", 80, "/api/", "api"},
		{"below prefix", "http", "localhost", 80, "/api/x/y", "api"},
		{"longer sibling is its own route", "http", "localhost", 80, "/apix", "apix"},
		{"not a segment prefix falls to root", "http", "localhost", 80, "/apixy", "root"},
		{"longest prefix wins", "http", "localhost", 80, "/api/v2", "api-v2"},
		{"longest prefix wins below it", "http", "localhost", 80, "/api/v2/users/7", "api-v2"},
		{"segment boundary on longer prefix", "http", "localhost", 80, "/api/v2x", "api"},
		{"root", "http", "localhost", 80, "/", "root"},
		{"empty path is root", "http", "localhost", 80, "", "root"},
		{"unmapped path goes to root", "http", "localhost", 80, "/x", "root"},
		{"host upper case", "http", "LocalHost", 80, "/api", "api"},
		{"host trailing dot", "http", "localhost.", 80, "/api", "api"},
		{"host two trailing dots", "http", "localhost..", 80, "/api", ""},
		{"other port", "http", "localhost", 8080, "/api/x", "other-port"},
		{"other port has no root", "http", "localhost", 8080, "/x", ""},
		{"port not configured", "http", "localhost", 81, "/api", ""},
		{"scheme must match", "https", "localhost", 80, "/api", ""},
		{"loopback IP is not localhost", "http", "127.0.0.1", 80, "/api", ""},
		{"remote host lower-cased", "http", "backup.example", 80, "/mirror/a", "remote"},
		{"remote host any case", "http", "BACKUP.example", 80, "/mirror", "remote"},
		{"remote host other path", "http", "backup.example", 80, "/", ""},
		{"similar host", "http", "backup.example.evil", 80, "/mirror", ""},
		{"kelvin sign does not fold to k", "http", "bac\u212aup.example", 80, "/mirror", ""},
		{"ipv6 with brackets", "http", "[::1]", 9090, "/m", "v6"},
		{"ipv6 without brackets", "http", "::1", 9090, "/m/x", "v6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertMatch(t, tbl, tt.scheme, tt.host, tt.port, tt.path, tt.want)
		})
	}
}

// TestMatchTraversal: the path is cleaned first, so a dot segment can never
// select a route the cleaned path would not.
func TestMatchTraversal(t *testing.T) {
	tbl := mustCompile(t, matchDoc)
	tests := []struct {
		name, path, want string
	}{
		{"dot-dot out of api", "/api/../x", "root"},
		{"dot-dot out of api to sibling", "/api/../apix", "apix"},
		{"dot-dot into api", "/x/../api", "api"},
		{"dot segment", "/api/./x", "api"},
		{"double slash", "//api", "api"},
		{"double slash inside", "/api//v2", "api-v2"},
		{"above root", "/../api", "api"},
		{"decoded %2e%2e at the end", "/api/..", "root"},
		{"decoded %2e at the end", "/api/v2/.", "api-v2"},
		{"out of v2 back to api", "/api/v2/../v3", "api"},
		{"no leading slash", "api/x", "api"},
		{"literal %2e%2e is a name", "/api/%2e%2e", "api"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertMatch(t, tbl, "http", "localhost", 80, tt.path, tt.want)
			if a, b := tbl.Match("http", "localhost", 80, tt.path), tbl.Match("http", "localhost", 80, policy.CleanPath(tt.path)); a != b {
				t.Errorf("Match(%q) differs from Match of its clean form %q", tt.path, policy.CleanPath(tt.path))
			}
		})
	}
}

func assertMatch(t *testing.T, tbl *Table, scheme, host string, port uint16, p, want string) {
	t.Helper()
	got := ""
	if c := tbl.Match(scheme, host, port, p); c != nil {
		got = c.Name
	}
	if got != want {
		t.Errorf("Match(%s, %s, %d, %q) = %q, want %q", scheme, host, port, p, got, want)
	}
}

// benchTable has 20 routes on a few hosts and ports.
func benchTable(tb testing.TB) *Table {
	rt := &RouteTable{APIVersion: APIVersion, Kind: Kind, Metadata: Metadata{Name: "bench"}}
	for i := 0; i < 20; i++ {
		src := fmt.Sprintf("http://localhost/svc%d/v%d", i%7, i)
		switch {
		case i%5 == 0:
			src = fmt.Sprintf("http://localhost:%d/svc%d", 8000+i, i)
		case i%4 == 0:
			src = fmt.Sprintf("http://service-%d.example/api", i)
		}
		rt.Spec.Routes = append(rt.Spec.Routes, Route{
			Name: fmt.Sprintf("r%d", i), Source: src, Target: fmt.Sprintf("http://backend-%d/base", i),
		})
	}
	tbl, err := Compile(rt, policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return tbl
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tbl := benchTable(t)
	tests := []struct {
		name, host string
		port       uint16
		path       string
		hit        bool
	}{
		{"hit", "localhost", 80, "/svc3/v17/users/42", true},
		{"hit upper-case host", "LOCALHOST.", 80, "/svc3/v17", true},
		{"hit other host", "service-8.example", 80, "/api/x/", true},
		{"miss", "localhost", 80, "/nothing/here", false},
		{"miss other port", "localhost", 9999, "/svc3/v17", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tbl.Match("http", tt.host, tt.port, tt.path) != nil; got != tt.hit {
				t.Fatalf("matched = %v, want %v", got, tt.hit)
			}
			allocs := testing.AllocsPerRun(200, func() { tbl.Match("http", tt.host, tt.port, tt.path) })
			if allocs != 0 {
				t.Errorf("Match allocates %.1f times per call, want 0", allocs)
			}
		})
	}
}

func BenchmarkMatch(b *testing.B) {
	tbl := benchTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if tbl.Match("http", "localhost", 80, "/svc3/v17/users/42") == nil {
			b.Fatal("no match")
		}
	}
}

func BenchmarkMatchUncleanPath(b *testing.B) {
	tbl := benchTable(b)
	b.ReportAllocs()
	for b.Loop() {
		if tbl.Match("http", "localhost", 80, "/svc3/./v17//users/42") == nil {
			b.Fatal("no match")
		}
	}
}
