package policy

import (
	"net/netip"
)

// rule is a validated, compiled Rule: everything Decide needs, computed once.
type rule struct {
	name         string
	host         string // normalised exact name or wildcard suffix ("example.com"); "" for cidrs only
	wildcard     bool
	ports        []PortRange
	methods      []string // upper case; empty = any
	paths        []string // segment prefixes without a trailing slash ("/" = all)
	prefixes     []netip.Prefix
	allowPrivate bool
	allowReason  string // `allowed by rule "name"`
}

// compileRule validates r (paths are relative to path) and returns the
// compiled rule; the rule is nil when there are problems.
func compileRule(path string, r Rule) (*rule, []error) {
	c := &rule{
		name:         r.Name,
		ports:        r.Ports,
		methods:      r.Methods,
		allowPrivate: r.AllowPrivate,
		allowReason:  "allowed by rule " + quote(r.Name),
	}
	var errs []error
	add := func(field, msg string) { errs = append(errs, &FieldError{Path: path + field, Msg: msg}) }
	if msg := checkRuleName(r.Name); msg != "" {
		add(".name", msg)
	}
	if r.Host == "" && len(r.CIDRs) == 0 {
		add("", `host or cidrs required (host: "api.example.com" for names, cidrs: ["10.0.0.0/8"] for literal IPs)`)
	}
	if r.Host != "" {
		host, wildcard, msg := parseHostPattern(r.Host)
		if msg != "" {
			add(".host", msg)
		}
		c.host, c.wildcard = host, wildcard
	}
	errs = append(errs, checkPorts(path+".ports", r.Ports)...)
	errs = append(errs, checkMethods(path+".methods", r.Methods)...)
	var pathErrs []error
	c.paths, pathErrs = compilePaths(path+".paths", r.Paths)
	errs = append(errs, pathErrs...)
	var cidrErrs []error
	c.prefixes, cidrErrs = compileCIDRs(path+".cidrs", r.CIDRs)
	errs = append(errs, cidrErrs...)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// allowsConnect reports whether the rule may allow a CONNECT tunnel: only
// when it does not restrict methods or paths, which a tunnel hides.
func (r *rule) allowsConnect() bool { return len(r.methods) == 0 && len(r.paths) == 0 }

func (r *rule) portOK(port uint16) bool {
	for _, pr := range r.ports {
		if pr.Contains(port) {
			return true
		}
	}
	return false
}

func (r *rule) methodOK(method string) bool {
	if len(r.methods) == 0 {
		return true
	}
	for _, m := range r.methods {
		if m == method {
			return true
		}
	}
	return false
}

func (r *rule) pathOK(p string) bool {
	if len(r.paths) == 0 {
		return true
	}
	for _, prefix := range r.paths {
		if HasPathPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// containsAddr reports whether one of the rule's cidrs holds a (an
// IPv4-mapped address also matches IPv4 prefixes).
func (r *rule) containsAddr(a netip.Addr) bool {
	u := a.Unmap()
	for _, p := range r.prefixes {
		if p.Contains(a) || p.Contains(u) {
			return true
		}
	}
	return false
}
