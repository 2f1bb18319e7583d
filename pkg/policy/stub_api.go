package policy

// API stubs: the policy helper replaces this file with the real implementation
// (same signatures).

import (
	"context"
	"net/netip"
)

// Options are the runtime inputs of a compiled Policy.
type Options struct {
	// Resolver resolves host names; nil means net.DefaultResolver.
	Resolver Resolver
	// Self are the ambassador's own listener addresses; always denied.
	Self []netip.AddrPort
}

// Policy is a compiled, immutable allowlist. Safe for concurrent use.
type Policy struct {
	mode Mode
}

// Compile validates rules and builds a Policy. Errors are FieldErrors whose
// paths are relative to the rule list ("[1].ports[0]").
func Compile(mode Mode, rules []Rule, opts Options) (*Policy, error) { panic("TODO") }

// ValidateRules returns every problem in rules, with field paths prefixed by
// prefix (for example "spec.egress"): one error per problem.
func ValidateRules(prefix string, rules []Rule) []error { panic("TODO") }

// Mode returns the compiled mode.
func (p *Policy) Mode() Mode { return p.mode }

// Decide judges req: normalises the host, matches the allowlist, resolves the
// name and checks every address (address guard). A denial is a Decision; the
// error is for malformed input (*InputError → 400) and resolution failures
// (*ResolveError → 502).
func (p *Policy) Decide(ctx context.Context, req Request) (Decision, error) { panic("TODO") }

// NormalizeHost lower-cases, strips one trailing dot and converts IDNA to
// punycode. Malformed names return an *InputError.
func NormalizeHost(host string) (string, error) { panic("TODO") }

// SplitHostPort parses "host:port" strictly (brackets required for IPv6,
// port 1..65535, digits only); defaultPort is used when the port is absent
// and defaultPort != 0. Errors are *InputError.
func SplitHostPort(hostport string, defaultPort uint16) (host string, port uint16, err error) {
	panic("TODO")
}

// InputError is malformed input from a client (maps to 400).
type InputError struct {
	Field string // "host", "port", ...
	Value string
	Msg   string
}

func (e *InputError) Error() string { return "policy: invalid " + e.Field + " " + quote(e.Value) + ": " + e.Msg }

// ResolveError is a failed name lookup (maps to 502).
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string { return "policy: resolve " + e.Host + ": " + e.Err.Error() }
func (e *ResolveError) Unwrap() error { return e.Err }

func quote(s string) string { return "\"" + s + "\"" }
