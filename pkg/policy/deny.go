package policy

import (
	"net/netip"
	"strconv"
	"strings"
)

// DenyCIDR is one range of a configured deny list: no rule, route or mode
// can allow an address inside it.
type DenyCIDR struct {
	Prefix netip.Prefix
	// Source says where the range was configured, for reasons:
	// "--deny-cidrs[0]" or "spec.denyCidrs[1]".
	Source string
}

// ParseDenyCIDRs parses a deny list. Entries are masked prefixes
// ("10.0.0.0/8"; a single address is "10.1.2.3/32"), with surrounding
// spaces ignored. path names the list in errors and in each DenyCIDR's
// Source ("spec.denyCidrs" → "spec.denyCidrs[0]"). The errors are one
// *FieldError per bad entry; the result is nil when there is any.
func ParseDenyCIDRs(path string, cidrs []string) ([]DenyCIDR, []error) {
	var errs []error
	out := make([]DenyCIDR, 0, len(cidrs))
	for i, raw := range cidrs {
		at := path + "[" + strconv.Itoa(i) + "]"
		s := strings.TrimSpace(raw)
		if s == "" {
			errs = append(errs, &FieldError{Path: at, Msg: `empty entry (write a range such as "10.0.0.0/8", or remove the extra comma)`})
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			msg := "cidr " + quote(raw) + ` is not a prefix (write it like "10.0.0.0/8" or "fd00::/8")`
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				msg = "cidr " + quote(raw) + " is an address, not a prefix (write " + quote(hostPrefix(a.String())) + ")"
			}
			errs = append(errs, &FieldError{Path: at, Msg: msg})
			continue
		}
		if pfx.Addr().Is4In6() && pfx.Bits() >= 96 {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are unmapped before
			// they are checked, so the range must be too.
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
		}
		if m := pfx.Masked(); m != pfx {
			errs = append(errs, &FieldError{Path: at, Msg: "cidr " + quote(raw) + " has host bits set (write the masked form " + quote(m.String()) + ")"})
			continue
		}
		out = append(out, DenyCIDR{Prefix: pfx, Source: at})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// denyHit is an address found inside a deny range: the range, and the
// IPv4 address and form it was found through when the address is an IPv6
// form that embeds one.
type denyHit struct {
	deny DenyCIDR
	via  netip.Addr // the embedded IPv4 address; invalid when a matched as itself
	form string
}

// denied reports whether a lies in a deny range, as itself or through an
// IPv4 address it embeds (IPv4-mapped, NAT64, 6to4, Teredo, ...), so that
// a translator cannot carry a request into a denied range.
func (p *Policy) denied(a netip.Addr) (denyHit, bool) {
	if len(p.deny) == 0 {
		return denyHit{}, false
	}
	a = a.WithZone("")
	if d, ok := p.denyRange(a); ok {
		return denyHit{deny: d}, true
	}
	forms, _ := embeddedIPv4(a)
	for _, f := range forms {
		v4 := netip.AddrFrom4(f.v4)
		if d, ok := p.denyRange(v4); ok {
			return denyHit{deny: d, via: v4, form: f.form}, true
		}
	}
	return denyHit{}, false
}

func (p *Policy) denyRange(a netip.Addr) (DenyCIDR, bool) {
	for _, d := range p.deny {
		if d.Prefix.Contains(a) {
			return d, true
		}
	}
	return DenyCIDR{}, false
}
