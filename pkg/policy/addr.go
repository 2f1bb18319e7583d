package policy

import "net/netip"

// AddrClass is what the address guard thinks of an address.
type AddrClass uint8

const (
	Public      AddrClass = iota // anything not listed below
	Private                      // 10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, fec0::/10
	Loopback                     // 127/8, ::1
	Unspecified                  // 0/8, ::
	LinkLocal                    // 169.254/16, fe80::/10 (the metadata endpoints there are Metadata)
	Multicast                    // 224/4, ff00::/8
	Broadcast                    // 255.255.255.255
	Reserved                     // 240/4
	Metadata                     // cloud metadata endpoints (metadata.go), wherever they lie
)

// String names the class as reasons print it ("link-local").
func (c AddrClass) String() string {
	switch c {
	case Private:
		return "private"
	case Loopback:
		return "loopback"
	case Unspecified:
		return "unspecified"
	case LinkLocal:
		return "link-local"
	case Multicast:
		return "multicast"
	case Broadcast:
		return "broadcast"
	case Reserved:
		return "reserved"
	case Metadata:
		return "cloud metadata endpoint"
	default:
		return "public"
	}
}

// AlwaysDenied reports whether the guard denies the class whatever the rules
// say (loopback has one exception: a route whose target is loopback).
func (c AddrClass) AlwaysDenied() bool { return c >= Loopback }

// AddrInfo is the classification of one address.
type AddrInfo struct {
	Class AddrClass
	// Embedded is the IPv4 address an IPv6 form carries (IPv4-mapped or
	// -compatible, NAT64, 6to4, Teredo) when that address decided Class;
	// invalid otherwise.
	Embedded netip.Addr
	// Form names the embedding ("IPv4-mapped", "NAT64", "6to4", "Teredo
	// server", "Teredo client", "IPv4-compatible"); "" when none.
	Form string
}

var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	nat64LocalPrefix = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16")
	teredoPrefix     = netip.MustParsePrefix("2001::/32")
	compatPrefix     = netip.MustParsePrefix("::/96")
	// translatedPrefix is ::ffff:0:0/96, the IPv4-translated form of
	// stateless IP/ICMP translation.
	translatedPrefix = netip.MustParsePrefix("::ffff:0:0:0/96")
	ulaPrefix        = netip.MustParsePrefix("fc00::/7")
	siteLocalPrefix  = netip.MustParsePrefix("fec0::/10")
	linkLocal6Prefix = netip.MustParsePrefix("fe80::/10")
	multicast6Prefix = netip.MustParsePrefix("ff00::/8")
)

// ClassifyAddr classifies a, looking through IPv6 forms that embed an IPv4
// address: the embedded address decides the class, so ::ffff:169.254.169.254
// is a cloud metadata endpoint. Teredo embeds two addresses; the worse one
// decides. Addresses in the local-use NAT64 prefix 64:ff9b:1::/48 are at
// least private, and every RFC 6052 encoding they could be is checked,
// because the prefix length in use there is not known here.
func ClassifyAddr(a netip.Addr) AddrInfo {
	a = a.WithZone("")
	switch {
	case a.Is4():
		return AddrInfo{Class: classify4(a.As4())}
	case a == netip.IPv6Unspecified():
		return AddrInfo{Class: Unspecified}
	case a == netip.IPv6Loopback():
		return AddrInfo{Class: Loopback}
	}
	forms, ok := embeddedIPv4(a)
	if !ok {
		return AddrInfo{Class: classify6(a)}
	}
	info := AddrInfo{Class: Public}
	if nat64LocalPrefix.Contains(a) {
		info.Class = Private
	}
	for _, f := range forms {
		info = worse(info, embedded(f.v4, f.form))
	}
	return info
}

// ipv4Form is an IPv4 address an IPv6 address carries, and the name of the
// embedding.
type ipv4Form struct {
	v4   [4]byte
	form string
}

// embeddedIPv4 returns the IPv4 addresses an IPv6 address carries (IPv4-
// mapped or -compatible, IPv4-translated, NAT64, 6to4, Teredo), and whether
// a is such a form at all. :: and ::1 are not forms.
func embeddedIPv4(a netip.Addr) ([]ipv4Form, bool) {
	b := a.As16()
	switch {
	case a.Is4():
		return nil, false
	case a.Is4In6():
		return []ipv4Form{{a.Unmap().As4(), "IPv4-mapped"}}, true
	case a == netip.IPv6Unspecified(), a == netip.IPv6Loopback():
		return nil, false
	case compatPrefix.Contains(a):
		return []ipv4Form{{[4]byte(b[12:16]), "IPv4-compatible"}}, true
	case translatedPrefix.Contains(a):
		return []ipv4Form{{[4]byte(b[12:16]), "IPv4-translated"}}, true
	case nat64Prefix.Contains(a):
		return []ipv4Form{{[4]byte(b[12:16]), "NAT64"}}, true
	case nat64LocalPrefix.Contains(a):
		return localNAT64Forms(b), true
	case sixToFourPrefix.Contains(a):
		return []ipv4Form{{[4]byte(b[2:6]), "6to4"}}, true
	case teredoPrefix.Contains(a):
		// the server (bits 32-63) and the obfuscated client (last 32
		// bits, inverted)
		var client [4]byte
		for i := range client {
			client[i] = b[12+i] ^ 0xff
		}
		return []ipv4Form{{[4]byte(b[4:8]), "Teredo server"}, {client, "Teredo client"}}, true
	}
	return nil, false
}

func embedded(v4 [4]byte, form string) AddrInfo {
	c := classify4(v4)
	if c == Public {
		return AddrInfo{Class: Public}
	}
	return AddrInfo{Class: c, Embedded: netip.AddrFrom4(v4), Form: form}
}

// localNAT64Forms returns every RFC 6052 encoding (prefix lengths 48, 56,
// 64 and 96) the address is a well-formed instance of: the "u" octet (byte
// 8) and the suffix after the IPv4 field are zero, except for /96 where
// byte 8 belongs to the prefix. An all-zero field is zero padding, not an
// address, unless every field is zero (then 0.0.0.0 is returned).
func localNAT64Forms(b [16]byte) []ipv4Form {
	zero := func(bs ...byte) bool {
		for _, x := range bs {
			if x != 0 {
				return false
			}
		}
		return true
	}
	encs := [...]struct {
		v4    [4]byte
		valid bool
	}{
		{[4]byte{b[6], b[7], b[9], b[10]}, zero(b[8], b[11], b[12], b[13], b[14], b[15])},
		{[4]byte{b[7], b[9], b[10], b[11]}, zero(b[8], b[12], b[13], b[14], b[15])},
		{[4]byte{b[9], b[10], b[11], b[12]}, zero(b[8], b[13], b[14], b[15])},
		{[4]byte{b[12], b[13], b[14], b[15]}, true},
	}
	var out []ipv4Form
	for _, e := range encs {
		if e.valid && e.v4 != [4]byte{} {
			out = append(out, ipv4Form{e.v4, "NAT64"})
		}
	}
	if len(out) == 0 {
		return []ipv4Form{{[4]byte{}, "NAT64"}}
	}
	return out
}

// worse returns the more restrictive classification: always-denied beats
// private beats public; the first wins a tie.
func worse(x, y AddrInfo) AddrInfo {
	if severity(y.Class) > severity(x.Class) {
		return y
	}
	return x
}

func severity(c AddrClass) int {
	switch {
	case c.AlwaysDenied():
		return 2
	case c == Private:
		return 1
	}
	return 0
}

func classify4(b [4]byte) AddrClass {
	switch {
	case metadataAddrs[netip.AddrFrom4(b)]:
		return Metadata
	case b[0] == 0:
		return Unspecified
	case b[0] == 127:
		return Loopback
	case b[0] == 169 && b[1] == 254:
		return LinkLocal
	case b == [4]byte{255, 255, 255, 255}:
		return Broadcast
	case b[0] >= 240:
		return Reserved
	case b[0] >= 224:
		return Multicast
	case b[0] == 10,
		b[0] == 172 && b[1]&0xf0 == 16,
		b[0] == 192 && b[1] == 168,
		b[0] == 100 && b[1]&0xc0 == 64:
		return Private
	}
	return Public
}

func classify6(a netip.Addr) AddrClass {
	switch {
	case metadataAddrs[a]:
		return Metadata
	case linkLocal6Prefix.Contains(a):
		return LinkLocal
	case multicast6Prefix.Contains(a):
		return Multicast
	case ulaPrefix.Contains(a), siteLocalPrefix.Contains(a):
		return Private
	}
	return Public
}

// alwaysDeniedPrefixes are the ranges ValidateRules refuses in cidrs, since
// the guard would deny every address in them anyway. A wider cidrs range
// that merely contains a metadata endpoint is accepted; the endpoint itself
// stays denied.
var alwaysDeniedPrefixes = append([]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("::1/128"),
	linkLocal6Prefix,
	multicast6Prefix,
}, metadataPrefixes()...)

// metadataPrefixes are the metadata endpoints as single-address prefixes.
func metadataPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, len(metadataEndpoints))
	for i, e := range metadataEndpoints {
		out[i] = netip.PrefixFrom(e.Addr, e.Addr.BitLen())
	}
	return out
}

// insideAlwaysDenied returns the always-denied range that contains all of p.
func insideAlwaysDenied(p netip.Prefix) (netip.Prefix, bool) {
	for _, d := range alwaysDeniedPrefixes {
		if d.Bits() <= p.Bits() && d.Contains(p.Addr()) {
			return d, true
		}
	}
	return netip.Prefix{}, false
}
