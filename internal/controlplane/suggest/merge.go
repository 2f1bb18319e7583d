package suggest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Addresses the merge check resolves names to: what a host was seen
// dialled at matters to the policy (a wildcard rule does not reach private
// addresses), nothing else about it does.
var (
	checkPublicAddr  = netip.MustParseAddr("198.18.0.10")
	checkPrivateAddr = netip.MustParseAddr("10.255.0.10")
)

// mergeBase is the --merge table: validated, and as a YAML tree so that
// its comments and order survive.
type mergeBase struct {
	path  string
	name  string
	table *routes.RouteTable
	doc   *yaml.Node
}

func loadMergeBase(path string) (*mergeBase, error) {
	rt, err := routes.Load(path)
	if err != nil {
		return nil, fmt.Errorf("--merge: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--merge: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("--merge %s: cannot read it back as one YAML document (%v)", path, err)
	}
	return &mergeBase{path: path, name: rt.Metadata.Name, table: rt, doc: &doc}, nil
}

// dropDenyRanges moves the literal IPs inside the base table's
// spec.denyCidrs to the will-stay-denied list: no rule can allow them.
func (b *mergeBase) dropDenyRanges(wl *workload, dests map[destKey]*destStats) map[destKey]*destStats {
	var ranges []netip.Prefix
	for _, c := range b.table.Spec.DenyCIDRs {
		if p, err := netip.ParsePrefix(c); err == nil {
			ranges = append(ranges, p)
		}
	}
	if len(ranges) == 0 {
		return dests
	}
	kept := make(map[destKey]*destStats, len(dests))
	for k, ds := range dests {
		ip := ds.ip.Unmap()
		if !ds.ip.IsValid() || !slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(ip) }) {
			kept[k] = ds
			continue
		}
		key := hostPort(k.host, k.port)
		bk := wl.stay[key]
		if bk == nil {
			bk = &bucket{why: "inside a deny range (spec.denyCidrs of " + b.path + ")"}
			wl.stay[key] = bk
		}
		bk.merge(ds.seen)
	}
	return kept
}

// merge adds to the base table the rules for what it does not allow yet,
// sets mode enforce, and prints what changed on stderr.
func (b *mergeBase) merge(_ *workload, dests map[destKey]*destStats, opts Options, stderr io.Writer) (table, error) {
	missing, err := b.missing(dests)
	if err != nil {
		return table{}, err
	}
	taken := make(map[string]bool, len(b.table.Spec.Egress))
	for _, r := range b.table.Spec.Egress {
		taken[r.Name] = true
	}
	sugg := suggestRules(missing, opts, taken)
	added, err := ruleNodes(sugg)
	if err != nil {
		return table{}, err
	}
	root := b.doc.Content[0]
	spec := mapValue(root, "spec")
	if spec == nil {
		spec = &yaml.Node{Kind: yaml.MappingNode}
		addPair(root, "spec", spec)
	}
	oldMode := b.table.Spec.Mode
	if oldMode != policy.Enforce {
		mode := mapValue(spec, "mode")
		if mode == nil {
			mode = scalar("")
			spec.Content = append([]*yaml.Node{scalar("mode"), mode}, spec.Content...)
		}
		mode.Value, mode.Tag, mode.Style, mode.LineComment = string(policy.Enforce), "", 0, modeComment
	}
	if len(sugg) > 0 {
		egress := mapValue(spec, "egress")
		if egress == nil || egress.Kind != yaml.SequenceNode {
			egress = &yaml.Node{Kind: yaml.SequenceNode}
			setPair(spec, "egress", egress)
		}
		egress.Style = 0 // block: each added rule under its comment
		egress.Content = append(egress.Content, added.Content...)
	}
	out, err := encode(b.doc)
	if err != nil {
		return table{}, err
	}
	b.writeDiff(stderr, oldMode, added)
	return table{workload: b.name, yaml: out, rules: len(sugg)}, nil
}

// missing returns the part of dests the base table does not allow yet, as
// its policy (in enforce mode) decides.
func (b *mergeBase) missing(dests map[destKey]*destStats) (map[destKey]*destStats, error) {
	rt := b.table.Clone()
	rt.Spec.Mode = policy.Enforce
	res := make(seenResolver, len(dests))
	for k, ds := range dests {
		if ds.private {
			res[k.host] = checkPrivateAddr
		} else if _, ok := res[k.host]; !ok {
			res[k.host] = checkPublicAddr
		}
	}
	t, err := routes.Compile(rt, policy.Options{Resolver: res})
	if err != nil {
		return nil, fmt.Errorf("--merge %s: %w", b.path, err)
	}
	out := make(map[destKey]*destStats)
	for k, ds := range dests {
		if left := uncovered(t.Policy, k, ds); left != nil {
			out[k] = left
		}
	}
	return out, nil
}

// uncovered returns what of ds the policy does not allow, nil when it
// allows all of it.
func uncovered(pol *policy.Policy, k destKey, ds *destStats) *destStats {
	allowed := func(req policy.Request) bool {
		req.Host, req.Port = k.host, k.port
		d, err := pol.Decide(context.Background(), req)
		return err == nil && d.Result == policy.Allow
	}
	if ds.tunnel || ds.overflow {
		// a rule that allows a tunnel has no methods or paths, so it
		// allows every request to the port too
		if allowed(policy.Request{Method: "CONNECT", Connect: true}) {
			return nil
		}
		return ds
	}
	left := make(map[httpUse]struct{})
	for u := range ds.uses {
		if !allowed(policy.Request{Method: u.method, Path: u.path}) {
			left[u] = struct{}{}
		}
	}
	if len(left) == 0 {
		return nil
	}
	c := *ds
	c.uses = left
	return &c
}

// writeDiff shows what the merge changed, the added rules as YAML.
func (b *mergeBase) writeDiff(w io.Writer, oldMode policy.Mode, added *yaml.Node) {
	kept := len(b.table.Spec.Egress)
	fmt.Fprintf(w, "suggest: --merge %s (workload %s): %d rules added, %d kept as they were\n", b.path, b.name, len(added.Content), kept)
	if oldMode != policy.Enforce {
		from := string(oldMode)
		if from == "" {
			from = "(unset)"
		}
		fmt.Fprintf(w, "  spec.mode: %s -> %s\n", from, policy.Enforce)
	}
	if len(added.Content) == 0 {
		fmt.Fprintln(w, "  (no rules added: the table already allows everything seen)")
		return
	}
	text, err := encode(added)
	if err != nil {
		return
	}
	fmt.Fprintf(w, "+ spec.egress[%d:%d]:\n", kept, kept+len(added.Content))
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		fmt.Fprintln(w, "+   "+sc.Text())
	}
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setPair replaces key's value in mapping m, or adds the pair.
func setPair(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i+1] = v
			return
		}
	}
	addPair(m, key, v)
}

// seenResolver answers every name with the address class it was seen at.
type seenResolver map[string]netip.Addr

var _ policy.Resolver = seenResolver(nil)

func (r seenResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := r[host]; ok {
		return []netip.Addr{a}, nil
	}
	return []netip.Addr{checkPublicAddr}, nil
}
