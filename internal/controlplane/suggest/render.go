package suggest

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// modeComment stands beside the suggested table's mode.
const modeComment = "review every rule below before enforcing: enforce mode denies everything not listed"

// table is one workload's suggested RouteTable, rendered.
type table struct {
	workload string
	yaml     []byte
	rules    int // egress rules suggested (added, with --merge)
}

// buildTables renders a table per workload, sorted by name, and says on
// stderr what was dropped and what will stay denied. Every table is
// parsed back and validated as controlplane validate would; one that does
// not pass is an internal error, never written.
func buildTables(a *audit, opts Options, base *mergeBase, stderr io.Writer) ([]table, error) {
	names := workloadNames(a)
	if base != nil && a.workloads[base.name] == nil {
		fmt.Fprintf(stderr, "suggest: --merge %s: no audit lines of workload %q: the table is kept as it is\n", base.path, base.name)
		names = append(names, base.name)
		slices.Sort(names)
	}
	var out []table
	for _, name := range names {
		wl := a.workloads[name]
		if wl == nil {
			wl = &workload{name: name}
		}
		dests := keepFrequent(wl, opts.MinCount, stderr)
		if base != nil && base.name == name {
			dests = base.dropDenyRanges(wl, dests)
		}
		writeBucket(stderr, wl.name, "will stay denied (the address guard denies these in every mode; never suggested)", wl.stay)
		writeBucket(stderr, wl.name, "denied when logged (not suggested)", wl.denied)
		var t table
		var err error
		if base != nil && base.name == name {
			t, err = base.merge(wl, dests, opts, stderr)
		} else {
			t, err = freshTable(wl, dests, opts)
		}
		if err != nil {
			return nil, fmt.Errorf("workload %q: %w", name, err)
		}
		if len(t.yaml) > routes.MaxDocumentSize {
			return nil, fmt.Errorf("workload %q: the suggested table is %d bytes (%d rules), over the %d bytes a RouteTable may have: "+
				"drop rarely seen destinations with --min-count N, or pick a shorter time with --since/--until", name, len(t.yaml), t.rules, routes.MaxDocumentSize)
		}
		if _, err := routes.Parse(t.yaml); err != nil {
			return nil, fmt.Errorf("internal error: the table suggested for workload %q does not validate (please report this):\n%w", name, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func workloadNames(a *audit) []string {
	names := make([]string, 0, len(a.workloads))
	for n := range a.workloads {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// keepFrequent drops destinations seen fewer than min times and lists them
// on stderr.
func keepFrequent(wl *workload, min int, stderr io.Writer) map[destKey]*destStats {
	if min <= 1 {
		return wl.dests
	}
	kept := make(map[destKey]*destStats, len(wl.dests))
	dropped := make(map[string]*bucket)
	for k, ds := range wl.dests {
		if ds.seen.count >= min {
			kept[k] = ds
			continue
		}
		dropped[hostPort(k.host, k.port)] = &bucket{span: ds.seen}
	}
	writeBucket(stderr, wl.name, fmt.Sprintf("dropped by --min-count %d", min), dropped)
	return kept
}

// writeBucket lists a bucket's destinations on stderr, busiest first.
func writeBucket(w io.Writer, workload, title string, m map[string]*bucket) {
	if len(m) == 0 {
		return
	}
	keys := sortedKeys(m)
	fmt.Fprintf(w, "suggest: workload %s: %s: %s\n", workload, title, plural(len(keys), "destination"))
	const show = 20
	for i, k := range keys {
		if i == show {
			fmt.Fprintf(w, "suggest:   ... and %d more (see --report)\n", len(keys)-show)
			break
		}
		b := m[k]
		why := ""
		if b.why != "" {
			why = " [" + b.why + "]"
		}
		fmt.Fprintf(w, "suggest:   %s: %s%s\n", k, b.requests(), why)
	}
}

// sortedKeys orders a bucket busiest first, then by destination.
func sortedKeys(m map[string]*bucket) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if d := m[b].count - m[a].count; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	return keys
}

// freshTable renders a new table for wl.
func freshTable(wl *workload, dests map[destKey]*destStats, opts Options) (table, error) {
	sugg := suggestRules(dests, opts, make(map[string]bool))
	root := &yaml.Node{Kind: yaml.MappingNode, HeadComment: header(wl)}
	meta := &yaml.Node{Kind: yaml.MappingNode}
	addPair(meta, "name", scalar(wl.name))
	spec := &yaml.Node{Kind: yaml.MappingNode}
	mode := scalar(string(policy.Enforce))
	mode.LineComment = modeComment
	addPair(spec, "mode", mode)
	if len(sugg) > 0 {
		seq, err := ruleNodes(sugg)
		if err != nil {
			return table{}, err
		}
		addPair(spec, "egress", seq)
	}
	addPair(root, "apiVersion", scalar(routes.APIVersion))
	addPair(root, "kind", scalar(routes.Kind))
	addPair(root, "metadata", meta)
	addPair(root, "spec", spec)
	out, err := encode(root)
	return table{workload: wl.name, yaml: out, rules: len(sugg)}, err
}

// header is the comment at the top of a suggested table.
func header(wl *workload) string {
	lines := []string{fmt.Sprintf("Suggested by controlplane suggest for workload %s: no audit lines seen.", wl.name)}
	if wl.lines.count > 0 {
		lines[0] = fmt.Sprintf("Suggested by controlplane suggest for workload %s from %s, %s to %s.",
			wl.name, plural(wl.lines.count, "audit line"), stamp(wl.lines.first), stamp(wl.lines.last))
	}
	lines = append(lines, "Review every rule before enforcing. Each rule's comment says what justified it.")
	if wl.routed > 0 {
		lines = append(lines, plural(wl.routed, "line")+" allowed by routes need no rule (the route allows them).")
	}
	if n := bucketLines(wl.stay); n > 0 {
		lines = append(lines, plural(n, "line")+" to destinations the address guard always denies will stay denied (see --report).")
	}
	return strings.Join(lines, "\n")
}

// plural reads "1 line", "2 lines".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func bucketLines(m map[string]*bucket) int {
	n := 0
	for _, b := range m {
		n += b.count
	}
	return n
}

// ruleNodes renders suggestions as a YAML sequence, each rule under its
// comment, lists in flow style.
func ruleNodes(sugg []suggestion) (*yaml.Node, error) {
	seq := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range sugg {
		var n yaml.Node
		if err := n.Encode(s.rule); err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i+1].Kind == yaml.SequenceNode {
				n.Content[i+1].Style = yaml.FlowStyle
			}
		}
		n.HeadComment = s.comment()
		seq.Content = append(seq.Content, &n)
	}
	return seq, nil
}

func scalar(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: v} }

func addPair(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, scalar(key), v)
}

// encode writes one YAML document, indented by two.
func encode(n *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
