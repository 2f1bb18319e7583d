package suggest

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"

	"github.com/meshlite/meshlite/pkg/policy"
)

// maxRuleName is the longest rule name the policy accepts.
const maxRuleName = 63

// suggestion is one egress rule and what justified it.
type suggestion struct {
	rule    policy.Rule
	seen    span
	sortKey string     // host or wildcard suffix: names sort by it
	ip      netip.Addr // valid for a cidrs rule: those sort after the names
	notes   []string   // comment lines after the request count
}

// comment is the YAML comment above the rule.
func (s suggestion) comment() string {
	return strings.Join(append([]string{s.seen.requests()}, s.notes...), "\n")
}

// hostGroup is every port seen for one host.
type hostGroup struct {
	host     string
	ip       netip.Addr
	ports    map[uint16]bool
	seen     span
	tunnel   bool
	private  bool
	overflow bool
	uses     map[httpUse]struct{}
}

// suggestRules proposes the rules that allow every destination in dests:
// one per host with the ports seen, or one "*.domain" rule for at least
// opts.WildcardMin subdomains of one registrable domain. Names are unique
// and not in taken, which is updated.
func suggestRules(dests map[destKey]*destStats, opts Options, taken map[string]bool) []suggestion {
	hosts := groupHosts(dests)
	wild := wildcardGroups(hosts, opts.WildcardMin)
	var out []suggestion
	covered := make(map[string]bool)
	for suffix, members := range wild {
		s := build(members, opts)
		s.rule.Host, s.sortKey = "*."+suffix, suffix
		names := make([]string, len(members))
		for i, m := range members {
			names[i], covered[m.host] = m.host, true
		}
		s.notes = append([]string{fmt.Sprintf("%d subdomains of %s seen: %s", len(members), suffix, list(names, 5))}, s.notes...)
		out = append(out, s)
	}
	for _, h := range hosts {
		if covered[h.host] {
			continue
		}
		s := build([]*hostGroup{h}, opts)
		switch {
		case h.ip.IsValid():
			ip := h.ip.Unmap()
			s.rule.CIDRs = []string{netip.PrefixFrom(ip, ip.BitLen()).String()}
			s.ip = ip
			s.notes = append([]string{"a literal IP address: a rule for its host name would be better (ask who runs it for the name)"}, s.notes...)
		default:
			s.rule.Host, s.sortKey = h.host, h.host
			if h.private {
				s.notes = append([]string{"dialled at a private address: only a rule naming this host exactly may reach it"}, s.notes...)
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b suggestion) int {
		if a.ip.IsValid() || b.ip.IsValid() { // names first, then addresses in order
			return a.ip.Compare(b.ip)
		}
		return strings.Compare(a.sortKey, b.sortKey)
	})
	for i := range out {
		out[i].rule.Name = uniqueName(baseName(out[i].rule), taken)
	}
	return out
}

// groupHosts gathers the ports of each host, sorted by host.
func groupHosts(dests map[destKey]*destStats) []*hostGroup {
	byHost := make(map[string]*hostGroup)
	for k, ds := range dests {
		g := byHost[k.host]
		if g == nil {
			g = &hostGroup{host: k.host, ip: ds.ip, ports: make(map[uint16]bool)}
			byHost[k.host] = g
		}
		g.ports[k.port] = true
		g.seen.merge(ds.seen)
		g.tunnel = g.tunnel || ds.tunnel
		g.private = g.private || ds.private
		g.addUses(ds.uses, ds.overflow)
	}
	out := make([]*hostGroup, 0, len(byHost))
	for _, g := range byHost {
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *hostGroup) int { return strings.Compare(a.host, b.host) })
	return out
}

func (g *hostGroup) addUses(uses map[httpUse]struct{}, overflow bool) {
	if g.overflow = g.overflow || overflow; g.overflow {
		g.uses = nil
		return
	}
	if g.uses == nil {
		g.uses = make(map[httpUse]struct{})
	}
	for u := range uses {
		g.uses[u] = struct{}{}
	}
	if len(g.uses) > maxPathsPerDest {
		g.uses, g.overflow = nil, true
	}
}

// wildcardGroups returns, per registrable domain, its subdomains when at
// least min of them were seen. Literal IPs and hosts dialled at private
// addresses take no part: a wildcard rule does not reach private addresses.
func wildcardGroups(hosts []*hostGroup, min int) map[string][]*hostGroup {
	bySuffix := make(map[string][]*hostGroup)
	for _, h := range hosts {
		if h.ip.IsValid() || h.private {
			continue
		}
		dom, err := publicsuffix.EffectiveTLDPlusOne(h.host)
		if err != nil || dom == h.host || !wildcardAllowed(dom) {
			continue
		}
		bySuffix[dom] = append(bySuffix[dom], h)
	}
	for dom, members := range bySuffix {
		if len(members) < min {
			delete(bySuffix, dom)
		}
	}
	return bySuffix
}

// wildcardAllowed reports whether "*.suffix" may be suggested: never over a
// public suffix (*.com, *.co.uk, *.github.io), and only when the policy
// accepts it.
func wildcardAllowed(suffix string) bool {
	if ps, _ := publicsuffix.PublicSuffix(suffix); ps == suffix {
		return false
	}
	return ruleOK(policy.Rule{Host: "*." + suffix})
}

// build merges host groups into one rule's ports, and with --paths its
// methods and path prefixes.
func build(groups []*hostGroup, opts Options) suggestion {
	var s suggestion
	merged := &hostGroup{ports: make(map[uint16]bool)}
	for _, g := range groups {
		for p := range g.ports {
			merged.ports[p] = true
		}
		s.seen.merge(g.seen)
		merged.tunnel = merged.tunnel || g.tunnel
		merged.addUses(g.uses, g.overflow)
	}
	for p := range merged.ports {
		s.rule.Ports = append(s.rule.Ports, policy.PortRange{From: p, To: p})
	}
	slices.SortFunc(s.rule.Ports, func(a, b policy.PortRange) int { return int(a.From) - int(b.From) })
	if opts.Paths {
		var note string
		s.rule.Methods, s.rule.Paths, note = methodsAndPaths(merged)
		if note != "" {
			s.notes = append(s.notes, note)
		}
	}
	return s
}

// methodsAndPaths lists the methods and the shortest path prefixes seen;
// nil (any) where a rule cannot be that narrow, with a note saying why.
func methodsAndPaths(g *hostGroup) (methods, paths []string, note string) {
	switch {
	case g.tunnel:
		return nil, nil, "no methods or paths: also seen as a CONNECT tunnel or a relayed TLS/TCP stream, which a rule with methods or paths never allows"
	case g.overflow:
		return nil, nil, fmt.Sprintf("no methods or paths: more than %d distinct ones seen", maxPathsPerDest)
	}
	for u := range g.uses {
		if !slices.Contains(methods, u.method) {
			methods = append(methods, u.method)
		}
		paths = append(paths, u.path)
	}
	slices.Sort(methods)
	if !ruleOK(policy.Rule{Host: "example.com", Methods: methods}) {
		methods, note = nil, "no methods: a method seen is not one a rule can list"
	}
	paths = shortestPrefixes(paths)
	if !ruleOK(policy.Rule{Host: "example.com", Paths: paths}) {
		paths, note = nil, "no paths: a path seen is not one a rule can list"
	}
	return methods, paths, note
}

// shortestPrefixes drops every path another one covers; nil when "/"
// (every path) is among them.
func shortestPrefixes(paths []string) []string {
	slices.SortFunc(paths, func(a, b string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		return strings.Compare(a, b)
	})
	var kept []string
	for _, p := range paths {
		if p == "/" {
			return nil
		}
		if !slices.ContainsFunc(kept, func(q string) bool { return policy.HasPathPrefix(p, q) }) {
			kept = append(kept, p)
		}
	}
	slices.Sort(kept)
	return kept
}

// ruleOK reports whether the policy accepts r once given a name and a port.
func ruleOK(r policy.Rule) bool {
	r.Name, r.Ports = "check", []policy.PortRange{{From: 80, To: 80}}
	return len(policy.ValidateRules("", []policy.Rule{r})) == 0
}

// baseName derives a rule name from what the rule allows.
func baseName(r policy.Rule) string {
	var name string
	switch {
	case strings.HasPrefix(r.Host, "*."):
		name = "any." + r.Host[2:]
	case r.Host != "":
		name = r.Host
	default:
		name = "ip-" + strings.NewReplacer(":", "-", "/", "-").Replace(strings.SplitN(r.CIDRs[0], "/", 2)[0])
	}
	if len(name) > maxRuleName {
		h := fnv.New32a()
		h.Write([]byte(name))
		name = fmt.Sprintf("%s-%08x", name[:maxRuleName-9], h.Sum32())
	}
	return name
}

// uniqueName returns base, or base-2, base-3... whichever is not taken yet,
// and takes it.
func uniqueName(base string, taken map[string]bool) string {
	name := base
	for i := 2; taken[name]; i++ {
		suffix := "-" + strconv.Itoa(i)
		name = base[:min(len(base), maxRuleName-len(suffix))] + suffix
	}
	taken[name] = true
	return name
}

// list joins the first n items and says how many more there are.
func list(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(" and %d more", len(items)-n)
}
