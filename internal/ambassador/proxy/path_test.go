package proxy

import (
	"strings"
	"testing"

	"github.com/meshlite/meshlite/pkg/policy"
)

func TestCheckAndCleanPath(t *testing.T) {
	tests := []struct {
		name, in, clean string
		bad             bool
	}{
		{"empty", "", "/", false},
		{"clean", "/api/x", "/api/x", false},
		{"trailing slash kept", "/api/", "/api/", false},
		{"dot-dot resolved", "/api/../x", "/x", false},
		{"duplicate slashes", "//api//x/", "/api/x/", false},
		{"dot-dot with parameters", "/api/..;/x", "", true},
		{"dot with parameters", "/api/.;x/y", "", true},
		{"parameters on a name are fine", "/api/v1;x/y", "/api/v1;x/y", false},
		{"backslash", `/api\..\x`, "", true},
		{"NUL", "/api/x\x00", "", true},
		{"invalid UTF-8", "/api/\xc0\xae\xc0\xae/x", "", true},
		{"not rooted", "*", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkPath(tt.in)
			if (err != nil) != tt.bad {
				t.Fatalf("checkPath(%q) = %v, bad = %v", tt.in, err, tt.bad)
			}
			if !tt.bad && policy.CleanPath(tt.in) != tt.clean {
				t.Errorf("CleanPath(%q) = %q, want %q", tt.in, policy.CleanPath(tt.in), tt.clean)
			}
		})
	}
}

func TestCleanPathDoesNotAllocateForCleanPaths(t *testing.T) {
	for _, p := range []string{"/api/x", "/api/", "/"} {
		if n := testing.AllocsPerRun(100, func() { policy.CleanPath(p) }); n != 0 {
			t.Errorf("CleanPath(%q): %v allocations", p, n)
		}
	}
}

// FuzzCleanPath: an accepted path cleans to a rooted path with no dot
// segments and no empty segments, and cleaning is idempotent.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/api/../x", "//a/./b/", "/a/..;/b", "/%2e%2e/", "/a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if checkPath(p) != nil {
			return
		}
		c := policy.CleanPath(p)
		if !strings.HasPrefix(c, "/") || policy.CleanPath(c) != c {
			t.Fatalf("CleanPath(%q) = %q: not rooted or not idempotent", p, c)
		}
		for _, seg := range strings.Split(strings.Trim(c, "/"), "/") {
			if seg == "." || seg == ".." || (seg == "" && c != "/") {
				t.Fatalf("CleanPath(%q) = %q keeps segment %q", p, c, seg)
			}
		}
	})
}
