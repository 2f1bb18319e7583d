package policy

import (
	"errors"
	"net/netip"
	"strings"
)

var errNoAddrs = errors.New("no addresses")

// guardFailure is the address that made the guard deny.
type guardFailure struct {
	addr netip.Addr
	info AddrInfo
	self netip.AddrPort // valid when addr:port is one of the ambassador's listeners
	deny denyHit        // deny.deny.Prefix is valid when a deny range denied addr
}

// guard checks every address; any failure denies the whole destination (it
// never picks the good address out of a mixed answer). An always-denied
// address (by class, by a deny range, or as one of the ambassador's own
// listeners) is reported in preference to a private one. The deny ranges
// apply even where loopback is allowed.
func (p *Policy) guard(addrs []netip.Addr, port uint16, privateOK, loopbackOK bool) (guardFailure, bool) {
	var private guardFailure
	for _, a := range addrs {
		info := ClassifyAddr(a)
		if self, ok := p.selfListener(a, port, info); ok {
			return guardFailure{addr: a, info: info, self: self}, true
		}
		loopbackPass := info.Class == Loopback && loopbackOK && isDirectForm(info)
		if info.Class.AlwaysDenied() && !loopbackPass {
			return guardFailure{addr: a, info: info}, true
		}
		if hit, ok := p.denied(a); ok {
			return guardFailure{addr: a, info: info, deny: hit}, true
		}
		if info.Class == Private && !privateOK && !private.addr.IsValid() {
			private = guardFailure{addr: a, info: info}
		}
	}
	return private, private.addr.IsValid()
}

// onlyPrivate reports whether the failure is a private address a rule did
// not permit: the one failure report mode sends anyway.
func (f guardFailure) onlyPrivate() bool {
	return f.info.Class == Private && !f.self.IsValid() && !f.deny.deny.Prefix.IsValid()
}

// selfListener reports whether a:port reaches one of the ambassador's own
// listeners: an exact match, or a loopback address on a port bound to all
// addresses.
func (p *Policy) selfListener(a netip.Addr, port uint16, info AddrInfo) (netip.AddrPort, bool) {
	if len(p.self) == 0 {
		return netip.AddrPort{}, false
	}
	ap := netip.AddrPortFrom(a.Unmap().WithZone(""), port)
	if p.self[ap] {
		return ap, true
	}
	if info.Class == Loopback && isDirectForm(info) {
		if wild, ok := p.selfAny[port]; ok {
			return wild, true
		}
	}
	return netip.AddrPort{}, false
}

// reason is the one-line explanation: `"meta.example" resolves to
// 169.254.169.254, a link-local address (always denied)`.
func (f guardFailure) reason(host string, literal bool, rule string) string {
	var b strings.Builder
	if literal {
		b.WriteString(f.addr.String() + " is ")
	} else {
		b.WriteString(quote(host) + " resolves to " + f.addr.String() + ", ")
	}
	if f.self.IsValid() {
		b.WriteString("the ambassador's own listener " + f.self.String() + " (always denied: the request would loop back)")
		return b.String()
	}
	if f.deny.deny.Prefix.IsValid() {
		if f.deny.via.IsValid() {
			b.WriteString("an IPv6 form (" + f.deny.form + ") of " + f.deny.via.String() + ", ")
		}
		b.WriteString("inside " + f.deny.deny.Prefix.String() + " from " + f.deny.deny.Source +
			" (always denied: no rule, route or mode can allow a deny range)")
		return b.String()
	}
	if f.info.Embedded.IsValid() {
		b.WriteString("an IPv6 form (" + f.info.Form + ") of " + f.info.Embedded.String() + ", ")
	}
	if f.info.Class == Metadata {
		b.WriteString("a cloud metadata endpoint (always denied: no rule, route or mode can allow it)")
		return b.String()
	}
	class := f.info.Class.String()
	if class[0] == 'u' {
		b.WriteString("an ")
	} else {
		b.WriteString("a ")
	}
	b.WriteString(class + " address")
	switch f.info.Class {
	case Private:
		b.WriteString(" (allowed only for hosts named exactly in a rule or route, or with allowPrivate: true on rule " + quote(rule) + ")")
	case Loopback:
		b.WriteString(" (always denied; only a route whose target is itself loopback may reach it)")
	default:
		b.WriteString(" (always denied)")
	}
	return b.String()
}
