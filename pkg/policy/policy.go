package policy

import (
	"errors"
	"net"
	"net/netip"
	"sync"
)

// Options are the runtime inputs of a compiled Policy.
type Options struct {
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Self are the ambassador's own listener addresses; a destination equal
	// to one is always denied. A self address bound to 0.0.0.0 or :: also
	// denies its port on every loopback address.
	Self []netip.AddrPort
	// Deny are ranges no rule, route or mode can allow: a destination with
	// an address inside one (or an IPv6 form embedding such an address) is
	// denied in both modes. Nil means none beyond the always-denied
	// classes. Build it with ParseDenyCIDRs.
	Deny []DenyCIDR
}

// Policy is a compiled, immutable allowlist. Safe for concurrent use.
type Policy struct {
	mode      Mode
	rules     []*rule            // document order
	exact     map[string][]*rule // normalised host → rules naming it exactly
	wildcards map[string][]*rule // wildcard suffix ("example.com") → rules
	cidrRules []*rule            // rules with cidrs, for literal IP destinations
	resolver  Resolver
	self      map[netip.AddrPort]bool
	selfAny   map[uint16]netip.AddrPort // ports bound on 0.0.0.0 or ::
	deny      []DenyCIDR
	routes    sync.Map // route name → its grant's rule and reason, made once
}

// Compile validates rules and builds a Policy. Errors are FieldErrors whose
// paths are relative to the rule list ("[1].ports[0]"), joined with
// errors.Join; the mode's path is "mode".
func Compile(mode Mode, rules []Rule, opts Options) (*Policy, error) {
	var errs []error
	switch mode {
	case "":
		mode = Enforce
	case Enforce, Report:
	default:
		errs = append(errs, &FieldError{Path: "mode", Msg: "unknown mode " + quote(string(mode)) + " (use enforce or report)"})
	}
	compiled, ruleErrs := compileRules("", rules)
	if errs = append(errs, ruleErrs...); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Policy{
		mode:      mode,
		rules:     compiled,
		exact:     make(map[string][]*rule),
		wildcards: make(map[string][]*rule),
		resolver:  opts.Resolver,
		self:      make(map[netip.AddrPort]bool, len(opts.Self)),
		selfAny:   make(map[uint16]netip.AddrPort),
		deny:      append([]DenyCIDR(nil), opts.Deny...),
	}
	if p.resolver == nil {
		p.resolver = net.DefaultResolver
	}
	for _, r := range compiled {
		switch {
		case r.host != "" && r.wildcard:
			p.wildcards[r.host] = append(p.wildcards[r.host], r)
		case r.host != "":
			p.exact[r.host] = append(p.exact[r.host], r)
		}
		if len(r.prefixes) > 0 {
			p.cidrRules = append(p.cidrRules, r)
		}
	}
	for _, s := range opts.Self {
		a := s.Addr().Unmap().WithZone("")
		if a.IsUnspecified() {
			p.selfAny[s.Port()] = s
		}
		p.self[netip.AddrPortFrom(a, s.Port())] = true
	}
	return p, nil
}

// Mode returns the compiled mode.
func (p *Policy) Mode() Mode { return p.mode }
