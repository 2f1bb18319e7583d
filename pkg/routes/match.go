package routes

import (
	"slices"
	"strings"

	"github.com/meshlite/meshlite/pkg/policy"
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
	p = policy.CleanPath(p)
	for i := range t.groups {
		g := &t.groups[i]
		if g.port != port || g.scheme != scheme || !equalFoldASCII(g.host, host) {
			continue
		}
		for _, r := range g.routes {
			if policy.HasPathPrefix(p, r.prefix) {
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

// prefixOf turns a clean source path into its match prefix: "/api/" and
// "/api" both match the "/api" subtree.
func prefixOf(p string) string {
	if len(p) > 1 {
		return strings.TrimSuffix(p, "/")
	}
	return "/"
}
