package routes

import (
	"path"
	"slices"
	"strings"
)

// Match finds the route for a request: scheme and port exactly, host
// case-insensitively (ASCII) with one trailing dot ignored and IPv6 brackets
// optional, path by segment prefix after cleaning ("/api" matches "/api",
// "/api/" and "/api/x", never "/apix"); the longest prefix wins. nil when
// nothing matches.
//
// The path is cleaned first (path.Clean semantics, "" is "/", a trailing
// slash kept), so "/api/../x" matches exactly what "/x" matches. Match does
// not allocate when the path is already clean.
//
// Hosts are compared as written: a source for "localhost" does not match a
// request for 127.0.0.1 or ::1, and IP literals must be in canonical form
// (as policy.NormalizeHost returns them).
func (t *Table) Match(scheme, host string, port uint16, p string) *Compiled {
	host = trimHost(host)
	if !isCleanPath(p) {
		p = cleanPath(p)
	}
	for i := range t.groups {
		g := &t.groups[i]
		if g.port != port || g.scheme != scheme || !equalFoldASCII(g.host, host) {
			continue
		}
		for _, r := range g.routes {
			if hasSegmentPrefix(p, r.prefix) {
				return r
			}
		}
		return nil // (scheme, host, port) is unique to a group
	}
	return nil
}

// matchGroup holds the routes of one source scheme, host and port in match
// order: longest prefix first.
type matchGroup struct {
	scheme string
	host   string // lower case, no brackets, no trailing dot
	port   uint16
	routes []*Compiled
}

// groupRoutes builds the match groups of routes (in document order).
func groupRoutes(routes []*Compiled) []matchGroup {
	var groups []matchGroup
	for _, c := range routes {
		i := slices.IndexFunc(groups, func(g matchGroup) bool {
			return g.scheme == c.Source.Scheme && g.host == c.Source.Hostname() && g.port == c.SourcePort
		})
		if i < 0 {
			groups = append(groups, matchGroup{scheme: c.Source.Scheme, host: c.Source.Hostname(), port: c.SourcePort})
			i = len(groups) - 1
		}
		groups[i].routes = append(groups[i].routes, c)
	}
	for _, g := range groups {
		slices.SortStableFunc(g.routes, func(a, b *Compiled) int { return len(b.prefix) - len(a.prefix) })
	}
	return groups
}

// trimHost removes IPv6 brackets and one trailing dot.
func trimHost(h string) string {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return strings.TrimSuffix(h, ".")
}

// equalFoldASCII compares lower-case a with b, folding only ASCII letters
// (Unicode folding would let "K" (Kelvin sign) stand for "k").
func equalFoldASCII(lower, b string) bool {
	if len(lower) != len(b) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasSegmentPrefix reports whether the clean path p is prefix or lies below
// it, segment by segment.
func hasSegmentPrefix(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || prefix == "/" || p[len(prefix)] == '/'
}

// prefixOf turns a clean source path into its match prefix: "/api/" and
// "/api" both match the "/api" subtree.
func prefixOf(p string) string {
	if len(p) > 1 {
		return strings.TrimSuffix(p, "/")
	}
	return "/"
}

// isCleanPath reports whether p is already what cleanPath returns: rooted,
// no empty, "." or ".." segments (a trailing slash is allowed).
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

// cleanPath applies path.Clean to a rooted p ("" is "/") and keeps a
// trailing slash, so "/api/" stays a directory and "/api/../x" becomes "/x".
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	c := path.Clean(p)
	if p[len(p)-1] == '/' && c != "/" {
		c += "/"
	}
	return c
}
