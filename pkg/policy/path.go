package policy

import (
	"path"
	"strings"
)

// CleanPath returns the form of a request path that routes and rules match
// and that is sent upstream: rooted ("" is "/"), with ".", ".." and empty
// segments resolved as path.Clean does, and a trailing slash kept so that
// "/api/" stays a directory. It does not allocate for a path that is
// already clean.
func CleanPath(p string) string {
	if isCleanPath(p) {
		return p
	}
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}

// isCleanPath reports whether CleanPath(p) is p: rooted, no empty, "." or
// ".." segments (a trailing slash is allowed).
func isCleanPath(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); {
		j := i + 1
		for j < len(p) && p[j] != '/' {
			j++
		}
		switch seg := p[i+1 : j]; {
		case seg == "." || seg == "..":
			return false
		case seg == "" && j < len(p):
			return false // "//"
		}
		i = j
	}
	return true
}

// HasPathPrefix reports whether prefix matches p segment-wise: "/api"
// matches "/api", "/api/" and "/api/x", not "/apix"; "/" matches every
// path.
func HasPathPrefix(p, prefix string) bool {
	if prefix == "/" {
		return true
	}
	return strings.HasPrefix(p, prefix) && (len(p) == len(prefix) || p[len(prefix)] == '/')
}
