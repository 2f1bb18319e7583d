package suggest

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// writeReport prints, per workload, what enforce mode would deny (the
// would_deny lines by destination), what the address guard denies in every
// mode, and what was denied when logged.
func writeReport(w io.Writer, a *audit) {
	for i, name := range workloadNames(a) {
		if i > 0 {
			fmt.Fprintln(w)
		}
		wl := a.workloads[name]
		would := wouldDeny(wl)
		fmt.Fprintf(w, "workload %s: %s", name, plural(wl.lines.count, "audit line"))
		if wl.lines.count > 0 {
			fmt.Fprintf(w, ", %s to %s", stamp(wl.lines.first), stamp(wl.lines.last))
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  would be denied in enforce mode: %s, %s\n", plural(len(would), "destination"), plural(bucketLines(would), "request"))
		writeTable(w, would)
		fmt.Fprintf(w, "  will stay denied (the address guard denies these in every mode; never suggested): %s, %s\n",
			plural(len(wl.stay), "destination"), plural(bucketLines(wl.stay), "request"))
		writeTable(w, wl.stay)
		if len(wl.denied) > 0 {
			fmt.Fprintf(w, "  denied when logged (not suggested): %s, %s\n", plural(len(wl.denied), "destination"), plural(bucketLines(wl.denied), "request"))
			writeTable(w, wl.denied)
		}
		if wl.routed > 0 {
			fmt.Fprintf(w, "  allowed by routes (no rule needed): %s\n", plural(wl.routed, "request"))
		}
	}
}

// wouldDeny gathers the would_deny lines by destination.
func wouldDeny(wl *workload) map[string]*bucket {
	m := make(map[string]*bucket)
	for k, ds := range wl.dests {
		if ds.wouldDeny.count == 0 {
			continue
		}
		why := "name"
		switch {
		case ds.ip.IsValid():
			why = "literal IP"
		case ds.tunnel:
			why = "tunnel or TLS/TCP stream"
		}
		m[hostPort(k.host, k.port)] = &bucket{span: ds.wouldDeny, why: why}
	}
	return m
}

// writeTable prints a bucket as aligned columns, busiest first.
func writeTable(w io.Writer, m map[string]*bucket) {
	if len(m) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "    DESTINATION\tREQUESTS\tFIRST SEEN\tLAST SEEN\tNOTE")
	keys := sortedKeys(m)
	for _, k := range keys {
		b := m[k]
		fmt.Fprintf(tw, "    %s\t%d\t%s\t%s\t%s\n", k, b.count, stamp(b.first), stamp(b.last), b.why)
	}
	tw.Flush()
}
