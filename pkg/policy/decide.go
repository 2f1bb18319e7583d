package policy

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
)

// grant is what allows a request once its addresses pass the guard.
type grant struct {
	rule       string // Decision.Rule
	reason     string // Decision.Reason when allowed
	privateOK  bool   // private addresses may be dialled
	loopbackOK bool   // loopback may be dialled (a route whose target is loopback)
	wouldDeny  bool   // report mode: no rule allows it, sent anyway
}

// Decide judges req: normalises the host, matches the allowlist, resolves the
// name and checks every address (address guard). A denial is a Decision; the
// error is for malformed input (*InputError → 400) and resolution failures
// (*ResolveError → 502). With a *ResolveError the Decision is a Deny that
// still names the host and the rule, for the audit line.
//
// In report mode an allowlist miss, and a private address reached through a
// rule that does not permit private addresses, are WouldDeny (sent anyway);
// always-denied addresses and the ambassador's own listeners are Deny in
// both modes.
func (p *Policy) Decide(ctx context.Context, req Request) (Decision, error) {
	host, ip, err := normalizeHost(req.Host)
	if err != nil {
		return Decision{}, err
	}
	if req.Port == 0 {
		return Decision{}, &InputError{Field: "port", Value: "0", Msg: "zero (use 1..65535)"}
	}
	d := Decision{Host: host}
	if req.Route != "" {
		g := p.routeGrant(req.Route)
		g.loopbackOK = isLoopbackTarget(host, ip)
		return p.admit(ctx, d, ip, req.Port, g)
	}
	reqPath := requestPath(req)
	var match, near *rule
	if ip.IsValid() {
		match, near = p.byAddr(ip, req, reqPath)
	} else {
		match, near = p.byName(host, req, reqPath)
	}
	if match != nil {
		return p.admit(ctx, d, ip, req.Port, grant{
			rule:      match.name,
			reason:    match.allowReason,
			privateOK: ip.IsValid() || !match.wildcard || match.allowPrivate,
		})
	}
	ruleName, reason := p.missReason(req, host, ip, near, reqPath)
	if p.mode != Report {
		d.Result, d.Rule, d.Reason = Deny, ruleName, reason
		return d, nil
	}
	return p.admit(ctx, d, ip, req.Port, grant{rule: ruleName, reason: reason, privateOK: true, wouldDeny: true})
}

// admit resolves the destination, runs the address guard and returns the
// decision g stands for when every address passes.
func (p *Policy) admit(ctx context.Context, d Decision, ip netip.Addr, port uint16, g grant) (Decision, error) {
	d.Rule = g.rule
	addrs, err := p.lookup(ctx, d.Host, ip)
	if err != nil {
		d.Result, d.Reason = Deny, err.Error()
		return d, err
	}
	if f, bad := p.guard(addrs, port, g.privateOK, g.loopbackOK); bad {
		d.Result, d.Reason = Deny, f.reason(d.Host, ip.IsValid(), g.rule)
		if f.onlyPrivate() && p.mode == Report {
			d.Result, d.Reason, d.Addrs = WouldDeny, d.Reason+" (report mode: sent anyway)", unmapAll(addrs)
		}
		return d, nil
	}
	d.Result, d.Reason, d.Addrs = Allow, g.reason, unmapAll(addrs)
	if g.wouldDeny {
		d.Result = WouldDeny
	}
	return d, nil
}

// routeGrant is what a mapped route grants: any private target, its rule
// and reason named after the route (made once per route, not per request).
func (p *Policy) routeGrant(route string) grant {
	if g, ok := p.routes.Load(route); ok {
		return g.(grant)
	}
	g := grant{rule: "route:" + route, reason: "allowed by route " + quote(route), privateOK: true}
	p.routes.Store(route, g)
	return g
}

// lookup returns the addresses to check: the literal itself, or what the
// resolver answers for host ("ip" network: both families).
func (p *Policy) lookup(ctx context.Context, host string, ip netip.Addr) ([]netip.Addr, error) {
	if ip.IsValid() {
		return []netip.Addr{ip.Unmap()}, nil
	}
	addrs, err := p.resolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, &ResolveError{Host: host, Err: err}
	}
	if len(addrs) == 0 {
		return nil, &ResolveError{Host: host, Err: errNoAddrs}
	}
	return addrs, nil
}

// unmapAll returns addrs with IPv4-mapped addresses unmapped, copying only
// when there is one (some resolvers answer IPv4 in mapped form).
func unmapAll(addrs []netip.Addr) []netip.Addr {
	for i, a := range addrs {
		if !a.Is4In6() {
			continue
		}
		out := append([]netip.Addr(nil), addrs...)
		for j := i; j < len(out); j++ {
			out[j] = out[j].Unmap()
		}
		return out
	}
	return addrs
}

// byName finds the first rule that allows req to host: exact rules in
// document order, then wildcard rules from the most specific suffix. near
// is the first rule that names host but does not allow the request.
func (p *Policy) byName(host string, req Request, reqPath string) (match, near *rule) {
	if match, near = firstAllowing(p.exact[host], req, reqPath, near); match != nil || len(p.wildcards) == 0 {
		return match, near
	}
	for i := 0; i < len(host); i++ {
		if host[i] != '.' {
			continue
		}
		if match, near = firstAllowing(p.wildcards[host[i+1:]], req, reqPath, near); match != nil {
			return match, near
		}
	}
	return nil, near
}

// byAddr finds the first cidrs rule that contains ip and allows req.
func (p *Policy) byAddr(ip netip.Addr, req Request, reqPath string) (match, near *rule) {
	for _, r := range p.cidrRules {
		if !r.containsAddr(ip) {
			continue
		}
		if r.allows(req, reqPath) {
			return r, near
		}
		if near == nil {
			near = r
		}
	}
	return nil, near
}

func firstAllowing(rules []*rule, req Request, reqPath string, near *rule) (*rule, *rule) {
	for _, r := range rules {
		if r.allows(req, reqPath) {
			return r, near
		}
		if near == nil {
			near = r
		}
	}
	return nil, near
}

// allows checks what is left once the destination matched: port, and
// method and path unless the request is a CONNECT tunnel.
func (r *rule) allows(req Request, reqPath string) bool {
	if !r.portOK(req.Port) {
		return false
	}
	if req.Connect {
		return r.allowsConnect()
	}
	return r.methodOK(req.Method) && r.pathOK(reqPath)
}

// requestPath returns the path rules match against: cleaned, so that
// "/healthz/../admin" cannot pass as "/healthz".
func requestPath(req Request) string {
	if req.Connect {
		return req.Path
	}
	return CleanPath(req.Path)
}

// isLoopbackTarget reports whether a route's target host is itself
// loopback, which is the one case the guard lets loopback through.
func isLoopbackTarget(host string, ip netip.Addr) bool {
	if !ip.IsValid() {
		return host == "localhost"
	}
	info := ClassifyAddr(ip)
	return info.Class == Loopback && isDirectForm(info)
}

// isDirectForm reports whether the address is dialled as itself (plain or
// IPv4-mapped), not through a translator that embeds it.
func isDirectForm(info AddrInfo) bool { return info.Form == "" || info.Form == "IPv4-mapped" }

// missReason explains why no rule allowed req; ruleName names the rule that
// matched the destination but not the rest of the request.
func (p *Policy) missReason(req Request, host string, ip netip.Addr, near *rule, reqPath string) (ruleName, reason string) {
	dest := hostPort(host, req.Port)
	suffix := " (denied by default; add a rule to spec.egress)"
	if ip.IsValid() {
		suffix = " (a literal IP destination needs a rule whose cidrs contain it)"
	}
	if p.mode == Report {
		suffix = " (report mode: sent anyway; add a rule to spec.egress before enforcing)"
	}
	if near == nil {
		return "", "no egress rule allows " + quote(dest) + suffix
	}
	reason = near.mismatch(req, dest, reqPath)
	if p.mode == Report {
		reason += " (report mode: sent anyway)"
	}
	return near.name, reason
}

// mismatch says what about req the rule does not allow.
func (r *rule) mismatch(req Request, dest, reqPath string) string {
	head := "rule " + quote(r.name)
	switch {
	case !r.portOK(req.Port):
		return head + " allows " + dest[:strings.LastIndexByte(dest, ':')] + " only on " + r.portList() +
			", not " + strconv.Itoa(int(req.Port))
	case req.Connect:
		return head + " limits methods or paths, so it cannot allow a CONNECT tunnel to " + dest +
			" (add a rule without methods and paths)"
	case !r.methodOK(req.Method):
		return head + " allows only " + strings.Join(r.methods, ", ") + " to " + dest + ", not " + quote(req.Method)
	default:
		return head + " allows only paths " + strings.Join(r.paths, ", ") + " on " + dest + ", not " + quote(reqPath)
	}
}

// portList reads "port 443" or "ports 443, 8000-8100".
func (r *rule) portList() string {
	parts := make([]string, len(r.ports))
	for i, pr := range r.ports {
		parts[i] = pr.String()
	}
	if len(parts) == 1 && r.ports[0].From == r.ports[0].To {
		return "port " + parts[0]
	}
	return "ports " + strings.Join(parts, ", ")
}

// hostPort formats a destination for reasons: "host:443", "[::1]:443".
func hostPort(host string, port uint16) string {
	if strings.IndexByte(host, ':') >= 0 {
		return "[" + host + "]:" + strconv.Itoa(int(port))
	}
	return host + ":" + strconv.Itoa(int(port))
}
