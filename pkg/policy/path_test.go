package policy

import "testing"

func TestCleanPath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"/api", "/api"},
		{"/api/", "/api/"},
		{"api", "/api"},
		{"//api//x", "/api/x"},
		{"/api/../x", "/x"},
		{"/api/./", "/api/"},
		{"/api/.", "/api"},
		{"/..", "/"},
		{"/../..//", "/"},
		{"/a/b/../../..", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := CleanPath(tt.in); got != tt.want {
				t.Errorf("CleanPath(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if !isCleanPath(tt.want) {
				t.Errorf("isCleanPath(%q) = false for a clean path", tt.want)
			}
			if isCleanPath(tt.in) != (tt.in == tt.want) {
				t.Errorf("isCleanPath(%q) = %v, want %v", tt.in, isCleanPath(tt.in), tt.in == tt.want)
			}
		})
	}
}

func TestHasPathPrefix(t *testing.T) {
	tests := []struct {
		p, prefix string
		want      bool
	}{
		{"/api", "/api", true},
		{"/api/", "/api", true},
		{"/api/x", "/api", true},
		{"/apix", "/api", false},
		{"/ap", "/api", false},
		{"/anything", "/", true},
	}
	for _, tt := range tests {
		if got := HasPathPrefix(tt.p, tt.prefix); got != tt.want {
			t.Errorf("HasPathPrefix(%q, %q) = %v, want %v", tt.p, tt.prefix, got, tt.want)
		}
	}
}
