package capture

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// WriteSummary says in a few lines what rs, built from o, does once
// installed: for the log of an init container.
func WriteSummary(w io.Writer, o Options, rs *Ruleset) error {
	var b strings.Builder
	fmt.Fprintf(&b, "capture installed: table inet %s, %d rules\n", TableName, rs.Rules())
	fmt.Fprintf(&b, "outbound TCP redirected to port %d\n", o.CapturePort)
	exempt := []string{fmt.Sprintf("uid %d gid %d", o.ProxyUID, o.ProxyGID), "loopback"}
	if len(o.ExcludePorts) > 0 {
		exempt = append(exempt, "tcp ports "+joinAll(uniquePorts(o.ExcludePorts)))
	}
	if len(o.ExcludeCIDRs) > 0 {
		exempt = append(exempt, "cidrs "+joinAll(uniquePrefixes(o.ExcludeCIDRs)))
	}
	fmt.Fprintf(&b, "exempt: %s\n", strings.Join(exempt, ", "))
	if v4, v6 := splitDNS(o.DNS); len(v4)+len(v6) > 0 {
		fmt.Fprintf(&b, "resolvers (port 53): %s\n", joinAll(addrsOf(append(v4, v6...))))
	} else {
		b.WriteString("resolvers: none (DNS is blocked)\n")
	}
	if o.AllowUDP {
		b.WriteString("udp: allowed\n")
	} else {
		b.WriteString("udp: rejected, except DNS to the resolvers\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func addrsOf(prefixes []netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, len(prefixes))
	for i, p := range prefixes {
		out[i] = p.Addr()
	}
	return out
}

func joinAll[T any](values []T) string {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}
