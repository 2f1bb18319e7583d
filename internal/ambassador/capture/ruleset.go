package capture

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables/expr"
)

// Names of what init installs (contract: tests, docs and operators look for
// them).
const (
	TableName   = "meshlite"      // family inet: one table for IPv4 and IPv6
	NATChain    = "nat_output"    // redirects outbound TCP to the capture port
	FilterChain = "filter_output" // rejects what is not TCP, DNS or neighbour discovery
)

// Priorities of the two chains: the nat chain runs where destination NAT
// does (NF_IP_PRI_NAT_DST), the filter chain at the filter priority.
const (
	natPriority    = -100
	filterPriority = 0
)

// A Ruleset is the table init installs: its chains in order.
type Ruleset struct {
	Chains []Chain
}

// A Chain is a base chain on the output hook with policy accept; what it
// refuses, its last rule rejects.
type Chain struct {
	Name     string
	Type     string // "nat" or "filter"
	Priority int32
	Rules    []Rule
}

// A Rule applies its verdict to a packet that passes every match.
type Rule struct {
	Match   []Match
	Verdict Verdict
}

// Rules is the number of rules in all chains.
func (rs *Ruleset) Rules() int {
	n := 0
	for _, c := range rs.Chains {
		n += len(c.Rules)
	}
	return n
}

// New builds the ruleset for o (see the package documentation for what each
// rule is for). Duplicate ports and addresses are dropped and resolvers lose
// their zones: the rules match the destination address only.
func New(o Options) (*Ruleset, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	dns4, dns6 := splitDNS(o.DNS)
	owner := Owner{UID: o.ProxyUID, GID: o.ProxyGID}
	loopback := OutInterface("lo")

	nat := Chain{Name: NATChain, Type: "nat", Priority: natPriority}
	nat.add(Return{}, owner)
	nat.add(Return{}, loopback)
	for _, d := range []DestAddrs{dns4, dns6} {
		if len(d) > 0 {
			nat.add(Return{}, d, DestPorts{Proto: TCP, Ports: []uint16{53}})
		}
	}
	if ports := uniquePorts(o.ExcludePorts); len(ports) > 0 {
		nat.add(Return{}, DestPorts{Proto: TCP, Ports: ports})
	}
	for _, p := range uniquePrefixes(o.ExcludeCIDRs) {
		nat.add(Return{}, DestAddrs{p})
	}
	nat.add(Redirect{Port: uint16(o.CapturePort)}, TCP)

	filter := Chain{Name: FilterChain, Type: "filter", Priority: filterPriority}
	filter.add(Accept{}, owner)
	filter.add(Accept{}, loopback)
	filter.add(Drop{}, CtInvalid)
	filter.add(Accept{}, CtEstablished|CtRelated)
	filter.add(Accept{}, TCP)
	for _, d := range []DestAddrs{dns4, dns6} {
		if len(d) > 0 {
			filter.add(Accept{}, d, DestPorts{Proto: UDP, Ports: []uint16{53}})
		}
	}
	filter.add(Accept{}, NeighbourDiscovery)
	if o.AllowUDP {
		filter.add(Accept{}, UDP)
	}
	filter.add(Reject{})
	return &Ruleset{Chains: []Chain{nat, filter}}, nil
}

func (c *Chain) add(v Verdict, m ...Match) {
	c.Rules = append(c.Rules, Rule{Match: m, Verdict: v})
}

// splitDNS returns the resolvers by family, unmapped, without zones, sorted
// and without duplicates, each as a full-length prefix.
func splitDNS(addrs []netip.Addr) (v4, v6 DestAddrs) {
	var prefixes []netip.Prefix
	for _, a := range addrs {
		a = a.Unmap().WithZone("")
		prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
	}
	for _, p := range uniquePrefixes(prefixes) {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		} else {
			v6 = append(v6, p)
		}
	}
	return v4, v6
}

func uniquePorts(ports []int) []uint16 {
	out := make([]uint16, 0, len(ports))
	for _, p := range ports {
		out = append(out, uint16(p))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// uniquePrefixes sorts IPv4 before IPv6, by address, then by length.
func uniquePrefixes(prefixes []netip.Prefix) []netip.Prefix {
	out := slices.Clone(prefixes)
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return cmp.Compare(a.Bits(), b.Bits())
	})
	return slices.Compact(out)
}

// A Match is one condition of a rule. Its String is nft's spelling.
type Match interface {
	fmt.Stringer
	isMatch()
}

// Owner matches packets from sockets owned by UID and GID both.
type Owner struct{ UID, GID uint32 }

// OutInterface matches the output interface by name.
type OutInterface string

// CtState matches packets whose connection tracking state is any of a set
// of states, a bitmask of the kernel's state bits (CtInvalid,
// CtEstablished, ...): CtEstablished|CtRelated is "ct state
// established,related".
type CtState uint32

// Connection tracking states, the kernel's bits.
const (
	// CtInvalid: conntrack could not make sense of the packet (an
	// out-of-window segment, a crafted one). It is never NATed.
	CtInvalid = CtState(expr.CtStateBitINVALID)
	// CtEstablished: a packet of a connection that has seen packets in
	// both directions.
	CtEstablished = CtState(expr.CtStateBitESTABLISHED)
	// CtRelated: a packet a tracked connection spawned (an ICMP error,
	// say).
	CtRelated = CtState(expr.CtStateBitRELATED)
	// CtNew: the first packet of a connection.
	CtNew = CtState(expr.CtStateBitNEW)
	// CtUntracked: a packet exempted from tracking ("notrack").
	CtUntracked = CtState(expr.CtStateBitUNTRACKED)
)

var ctStateNames = map[CtState]string{
	CtInvalid:     "invalid",
	CtEstablished: "established",
	CtRelated:     "related",
	CtNew:         "new",
	CtUntracked:   "untracked",
}

// L4Proto matches the transport protocol, IPv4 or IPv6.
type L4Proto uint8

// Transport protocols.
const (
	TCP L4Proto = 6
	UDP L4Proto = 17
)

// DestAddrs matches destination addresses of one family: one prefix, or
// several full-length prefixes (single addresses, matched as a set).
type DestAddrs []netip.Prefix

// DestPorts matches the destination port of Proto against Ports (sorted).
type DestPorts struct {
	Proto L4Proto
	Ports []uint16
}

// ICMPv6Types matches ICMPv6 messages by type (sorted).
type ICMPv6Types []uint8

// NeighbourDiscovery is router solicitation and advertisement, neighbour
// solicitation and advertisement (RFC 4861): IPv6's ARP.
var NeighbourDiscovery = ICMPv6Types{133, 134, 135, 136}

var icmpv6Names = map[uint8]string{
	133: "nd-router-solicit",
	134: "nd-router-advert",
	135: "nd-neighbor-solicit",
	136: "nd-neighbor-advert",
}

func (Owner) isMatch()        {}
func (OutInterface) isMatch() {}
func (CtState) isMatch()      {}
func (L4Proto) isMatch()      {}
func (DestAddrs) isMatch()    {}
func (DestPorts) isMatch()    {}
func (ICMPv6Types) isMatch()  {}

func (m Owner) String() string {
	return fmt.Sprintf("meta skuid %d meta skgid %d", m.UID, m.GID)
}

func (m OutInterface) String() string { return fmt.Sprintf("oifname %q", string(m)) }

// String names the states as nft does: bit by bit, lowest first, a bit
// without a name in hex.
func (m CtState) String() string {
	var names []string
	for bit := CtState(1); bit != 0; bit <<= 1 {
		if m&bit == 0 {
			continue
		}
		name, ok := ctStateNames[bit]
		if !ok {
			name = fmt.Sprintf("%#x", uint32(bit))
		}
		names = append(names, name)
	}
	return "ct state " + strings.Join(names, ",")
}

func (m L4Proto) String() string { return "meta l4proto " + m.name() }

func (m L4Proto) name() string {
	switch m {
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	}
	return fmt.Sprint(uint8(m))
}

// Is4 says whether the addresses are IPv4.
func (m DestAddrs) Is4() bool { return len(m) > 0 && m[0].Addr().Is4() }

func (m DestAddrs) String() string {
	proto := "ip6"
	if m.Is4() {
		proto = "ip"
	}
	return proto + " daddr " + set(m, func(p netip.Prefix) string {
		if p.IsSingleIP() {
			return p.Addr().String()
		}
		return p.String()
	})
}

func (m DestPorts) String() string {
	return m.Proto.name() + " dport " + set(m.Ports, func(p uint16) string { return fmt.Sprint(p) })
}

func (m ICMPv6Types) String() string {
	return "icmpv6 type " + set(m, func(t uint8) string {
		if name, ok := icmpv6Names[t]; ok {
			return name
		}
		return fmt.Sprint(t)
	})
}

// set spells one value bare and several as an anonymous set.
func set[T any](values []T, spell func(T) string) string {
	if len(values) == 1 {
		return spell(values[0])
	}
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = spell(v)
	}
	return "{ " + strings.Join(s, ", ") + " }"
}

// A Verdict is what a rule does with a matching packet. Its String is nft's
// spelling.
type Verdict interface {
	fmt.Stringer
	isVerdict()
}

// Return leaves the chain: the packet is not redirected.
type Return struct{}

// Accept lets the packet out.
type Accept struct{}

// Redirect sends the packet to Port on the local host, keeping its original
// destination in conntrack (SO_ORIGINAL_DST).
type Redirect struct{ Port uint16 }

// Drop discards the packet without an answer.
type Drop struct{}

// Reject refuses the packet with an ICMP or ICMPv6 "administratively
// prohibited" (whichever fits the packet's family), so that a client fails
// at once instead of waiting for a timeout.
type Reject struct{}

func (Return) isVerdict()   {}
func (Accept) isVerdict()   {}
func (Drop) isVerdict()     {}
func (Redirect) isVerdict() {}
func (Reject) isVerdict()   {}

func (Return) String() string     { return "return" }
func (Accept) String() string     { return "accept" }
func (Drop) String() string       { return "drop" }
func (v Redirect) String() string { return fmt.Sprintf("redirect to :%d", v.Port) }
func (Reject) String() string     { return "reject with icmpx admin-prohibited" }
