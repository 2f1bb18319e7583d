package routes

import (
	"net/url"
	"strings"

	"github.com/meshlite/meshlite/pkg/policy"
)

// Rewrite returns the upstream URL for a request that matched r: the
// target's scheme and host (with its port only when not the scheme's
// default); the target path followed by the remainder of the cleaned
// request path after the source prefix; rawQuery kept as given.
//
// The path is decoded (as in http.Request.URL.Path). Because it is cleaned
// first, the result always lies under the target path: "/api/../x" cannot
// climb out of it. A path that does not lie under the source prefix (r was
// not the match for it) is sent to the target path itself.
//
// Examples with source http://localhost/api and target http://svc/v1:
// "/api" → http://svc/v1, "/api/" → http://svc/v1/, "/api/x?q=1" →
// http://svc/v1/x?q=1. With target http://svc/ : "/api/x" → http://svc/x.
func (r *Compiled) Rewrite(p, rawQuery string) *url.URL {
	p = policy.CleanPath(p)
	rest := ""
	switch {
	case r.prefix == "/":
		rest = p
	case policy.HasPathPrefix(p, r.prefix):
		rest = p[len(r.prefix):]
	}
	u := &url.URL{
		Scheme:   r.Target.Scheme,
		Host:     r.Target.Host,
		Path:     joinPath(r.Target.Path, rest),
		RawQuery: rawQuery,
	}
	if r.Target.RawPath != "" {
		u.RawPath = joinPath(r.Target.RawPath, escapePath(rest))
	}
	return u
}

// joinPath appends rest ("" or starting with '/') to the clean base without
// doubling the slash between them.
func joinPath(base, rest string) string {
	if rest == "" {
		if base == "" {
			return "/"
		}
		return base
	}
	return strings.TrimSuffix(base, "/") + rest
}

// escapePath escapes a decoded path, keeping its slashes.
func escapePath(p string) string {
	if p == "" {
		return ""
	}
	return (&url.URL{Path: p}).EscapedPath()
}
