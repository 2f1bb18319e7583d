package capture

import (
	"fmt"
	"io"
	"strings"
)

// Render writes rs as nft text, exactly as "nft list table inet meshlite"
// prints the installed table (nftables 1.0.x): a tab per level, a blank line
// between chains.
func (rs *Ruleset) Render(w io.Writer) error {
	_, err := io.WriteString(w, rs.String())
	return err
}

// String is the rendering of Render.
func (rs *Ruleset) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table inet %s {\n", TableName)
	for i, c := range rs.Chains {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", c.Name)
		fmt.Fprintf(&b, "\t\ttype %s hook output priority %s; policy accept;\n", c.Type, priorityName(c.Priority))
		for _, r := range c.Rules {
			fmt.Fprintf(&b, "\t\t%s\n", r)
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func (r Rule) String() string {
	parts := make([]string, 0, len(r.Match)+1)
	for _, m := range r.Match {
		parts = append(parts, m.String())
	}
	return strings.Join(append(parts, r.Verdict.String()), " ")
}

// priorityName spells a priority as nft prints it for an output hook: 0 is
// "filter"; nft names -100 "dstnat" only on the prerouting hook, so on
// output it stays a number.
func priorityName(p int32) string {
	if p == filterPriority {
		return "filter"
	}
	return fmt.Sprint(p)
}
