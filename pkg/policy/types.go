// Package policy decides whether the ambassador may send a request to a
// destination: the egress allowlist (deny by default), host normalisation and
// the address guard that stops requests from reaching loopback, link-local,
// cloud metadata endpoints (metadata.go), configured deny ranges (deny.go)
// and (unless allowed) private addresses.
package policy

import (
	"context"
	"net/netip"
)

// Mode says what a denial does.
type Mode string

const (
	// Enforce denies what no rule allows. It is the default ("" means Enforce).
	Enforce Mode = "enforce"
	// Report allows what no rule allows, but records it as would_deny so a
	// team can learn its allowlist before enforcing it. The address guard is
	// enforced in both modes.
	Report Mode = "report"
)

// Rule is one egress allowlist entry, as written in a RouteTable's
// spec.egress (DESIGN §5). It is wire data; Compile validates it.
type Rule struct {
	// Name identifies the rule in decisions, audit lines and metrics.
	Name string `yaml:"name" json:"name"`
	// Host is an exact name ("api.example.com") or "*.suffix", which matches
	// any depth of subdomain but never the apex; the suffix needs at least
	// two labels. It may be written in any case, with a trailing dot, or in
	// Unicode: Compile normalises it as NormalizeHost does, so "bücher.example"
	// and "xn--bcher-kva.example" are the same rule. An IP literal is
	// rejected (use CIDRs). Empty when the rule is for literal IP
	// destinations only (CIDRs).
	Host string `yaml:"host,omitempty" json:"host,omitempty"`
	// Ports the rule allows; required. YAML: 443 or "8000-8100".
	Ports []PortRange `yaml:"ports" json:"ports"`
	// Methods the rule allows; empty means any. They must be written in
	// upper case ("GET"), as HTTP methods are case-sensitive; "get" is a
	// validation error with a hint, not silently upper-cased. A rule with
	// Methods or Paths never allows a CONNECT tunnel.
	Methods []string `yaml:"methods,omitempty" json:"methods,omitempty"`
	// Paths are segment prefixes ("/healthz"); empty means any.
	Paths []string `yaml:"paths,omitempty" json:"paths,omitempty"`
	// CIDRs allow literal IP destinations inside these prefixes, written
	// masked ("10.0.0.0/8", not "10.0.0.1/8"). Private addresses inside them
	// are allowed; always-denied ones (loopback, link-local, cloud metadata
	// endpoints, deny ranges, ...) are not. A range that lies wholly inside
	// an always-denied range is refused; a wider one that merely contains
	// a metadata endpoint (100.64.0.0/10 holds 100.100.100.200) is
	// accepted, and the endpoint itself stays denied.
	CIDRs []string `yaml:"cidrs,omitempty" json:"cidrs,omitempty"`
	// AllowPrivate lets a wildcard host resolve to private addresses
	// (RFC 1918, fc00::/7, 100.64.0.0/10). Exact hosts may always do so.
	AllowPrivate bool `yaml:"allowPrivate,omitempty" json:"allowPrivate,omitempty"`
}

// PortRange is an inclusive range of TCP ports; a single port has From == To.
type PortRange struct {
	From, To uint16
}

// Result is the outcome of a decision.
type Result uint8

const (
	Deny Result = iota
	Allow
	WouldDeny // Report mode: no rule allows it, sent anyway.
)

// String returns the audit-log spelling: "deny", "allow" or "would_deny".
func (r Result) String() string {
	switch r {
	case Allow:
		return "allow"
	case WouldDeny:
		return "would_deny"
	default:
		return "deny"
	}
}

// Request is what Decide judges.
type Request struct {
	Host    string // as received; Decide normalises it
	Port    uint16
	Method  string
	Path    string // cleaned path; ignored for CONNECT
	Connect bool   // a CONNECT tunnel: rules with Methods or Paths do not apply
	// Route is the name of the route that mapped this request, or "".
	// A mapped request is allowed by its route (the mapping is the rule);
	// the address guard still applies, with private addresses allowed and
	// loopback allowed when the target host is itself loopback.
	Route string
}

// Decision is what Decide concluded. A denial is data, not an error.
type Decision struct {
	Result Result
	// Reason is one line for a human: what was decided and why.
	Reason string
	// Rule is the rule (or "route:NAME") that allowed the request, or that
	// applied when it was denied; "" when nothing matched.
	Rule string
	// Host is the normalised host name (punycode, lower case, no trailing dot).
	Host string
	// Addrs are the checked addresses to dial, in resolver order
	// (IPv4-mapped answers unmapped), for Allow and WouldDeny. Empty when
	// the decision is Deny. Dial only these: never resolve again.
	Addrs []netip.Addr
}

// Resolver looks up a host's addresses. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}
