package policy

import (
	"errors"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// knownMethods are the methods a rule may list. Methods must be written in
// upper case, as they are sent on the wire (HTTP methods are
// case-sensitive); "get" is rejected with a hint rather than silently
// upper-cased.
var knownMethods = map[string]bool{
	"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
	"DELETE": true, "OPTIONS": true, "TRACE": true,
}

// ValidateRules returns every problem in rules, with field paths prefixed by
// prefix (for example "spec.egress"): one *FieldError per problem, nil when
// there is none.
func ValidateRules(prefix string, rules []Rule) []error {
	_, errs := compileRules(prefix, rules)
	return errs
}

// compileRules validates and compiles every rule, collecting all problems.
func compileRules(prefix string, rules []Rule) ([]*rule, []error) {
	var errs []error
	compiled := make([]*rule, 0, len(rules))
	seen := make(map[string]int, len(rules))
	for i, r := range rules {
		p := prefix + "[" + strconv.Itoa(i) + "]"
		c, ruleErrs := compileRule(p, r)
		errs = append(errs, ruleErrs...)
		if first, dup := seen[r.Name]; dup && r.Name != "" {
			errs = append(errs, &FieldError{Path: p + ".name", Msg: "name " + quote(r.Name) +
				" is already used by " + prefix + "[" + strconv.Itoa(first) + "] (rule names must be unique)"})
		} else {
			seen[r.Name] = i
		}
		compiled = append(compiled, c)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return compiled, nil
}

// checkRuleName: names appear in audit lines and metric labels, so they are
// short and plain.
func checkRuleName(name string) string {
	if name == "" {
		return `required (give the rule a unique name, e.g. "github-api")`
	}
	if len(name) > 63 {
		return "name " + quote(name) + " is longer than 63 characters"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return "name " + quote(name) + " has " + quoteByte(c) + " (use letters, digits, '-', '_' and '.')"
		}
	}
	return ""
}

// parseHostPattern checks a rule's host and returns it normalised. A
// wildcard "*.example.com" returns ("example.com", true).
func parseHostPattern(h string) (host string, wildcard bool, msg string) {
	suffix, wildcard := strings.CutPrefix(h, "*.")
	switch {
	case h == "*":
		return "", false, `host "*" would allow every destination (list the hosts, or use "*.example.com" for a domain's subdomains)`
	case strings.Contains(suffix, "*"):
		return "", false, "host " + quote(h) + `: "*" is allowed only as the whole leftmost label (write "*.example.com")`
	}
	if _, err := netip.ParseAddr(strings.Trim(suffix, "[]")); err == nil && !wildcard {
		return "", false, "host " + quote(h) + " is an IP address (use cidrs: [" + quote(hostPrefix(suffix)) + "])"
	}
	norm, err := NormalizeHost(suffix)
	if err != nil {
		var in *InputError
		if errors.As(err, &in) {
			return "", false, "host " + quote(h) + ": " + in.Msg + ` (write a DNS name such as "api.example.com")`
		}
		return "", false, "host " + quote(h) + ": " + err.Error()
	}
	if _, err := netip.ParseAddr(norm); err == nil {
		return "", false, "host " + quote(h) + " is not a DNS name (a wildcard needs a domain, e.g. \"*.example.com\")"
	}
	if wildcard && strings.Count(norm, ".") < 1 {
		return "", false, "host " + quote(h) + ` is too broad: the part after "*." needs at least two labels (for example "*.example.com")`
	}
	return norm, wildcard, ""
}

// hostPrefix turns an IP literal into the single-address prefix to suggest.
func hostPrefix(ip string) string {
	a, err := netip.ParseAddr(strings.Trim(ip, "[]"))
	if err != nil {
		return ip
	}
	return netip.PrefixFrom(a.WithZone(""), a.BitLen()).String()
}

func checkPorts(p string, ports []PortRange) []error {
	if len(ports) == 0 {
		return []error{&FieldError{Path: p, Msg: `required (list ports, e.g. [443] or ["8000-8100"])`}}
	}
	var errs []error
	for i, pr := range ports {
		fp := p + "[" + strconv.Itoa(i) + "]"
		switch {
		case pr.From == 0:
			errs = append(errs, &FieldError{Path: fp, Msg: "port 0 is out of range (use 1..65535)"})
		case pr.From > pr.To:
			errs = append(errs, &FieldError{Path: fp, Msg: "range " + quote(pr.String()) + " is reversed (write " +
				quote(PortRange{From: pr.To, To: pr.From}.String()) + ")"})
		}
	}
	return errs
}

func checkMethods(p string, methods []string) []error {
	var errs []error
	for i, m := range methods {
		fp := p + "[" + strconv.Itoa(i) + "]"
		up := strings.ToUpper(m)
		switch {
		case up == "CONNECT":
			errs = append(errs, &FieldError{Path: fp, Msg: "CONNECT cannot be listed: a CONNECT tunnel is allowed by a rule without methods and paths"})
		case !knownMethods[up]:
			errs = append(errs, &FieldError{Path: fp, Msg: "unknown method " + quote(m) + " (use GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS or TRACE)"})
		case up != m:
			errs = append(errs, &FieldError{Path: fp, Msg: "method " + quote(m) + " must be upper case (write " + quote(up) + ")"})
		}
	}
	return errs
}

// compilePaths checks path prefixes and returns them without a trailing
// slash, ready for segment matching.
func compilePaths(p string, paths []string) ([]string, []error) {
	var errs []error
	out := make([]string, 0, len(paths))
	for i, raw := range paths {
		fp := p + "[" + strconv.Itoa(i) + "]"
		switch {
		case !strings.HasPrefix(raw, "/"):
			errs = append(errs, &FieldError{Path: fp, Msg: "path " + quote(raw) + " must start with \"/\" (write " + quote("/"+raw) + ")"})
			continue
		case strings.ContainsAny(raw, "?#"):
			errs = append(errs, &FieldError{Path: fp, Msg: "path " + quote(raw) + " must not contain a query or fragment"})
			continue
		}
		clean := path.Clean(raw)
		if clean != strings.TrimSuffix(raw, "/") && clean != raw {
			errs = append(errs, &FieldError{Path: fp, Msg: "path " + quote(raw) + " is not clean (write " + quote(clean) + ")"})
			continue
		}
		out = append(out, clean)
	}
	return out, errs
}

// compileCIDRs parses prefixes, which must be written masked ("10.0.0.0/8",
// not "10.0.0.1/8") and must not lie inside an always-denied range.
func compileCIDRs(p string, cidrs []string) ([]netip.Prefix, []error) {
	var errs []error
	out := make([]netip.Prefix, 0, len(cidrs))
	for i, raw := range cidrs {
		fp := p + "[" + strconv.Itoa(i) + "]"
		pfx, err := netip.ParsePrefix(raw)
		if err != nil {
			errs = append(errs, &FieldError{Path: fp, Msg: "cidr " + quote(raw) + " is not a prefix (write it like \"10.0.0.0/8\" or \"fd00::/8\")"})
			continue
		}
		if m := pfx.Masked(); m != pfx {
			errs = append(errs, &FieldError{Path: fp, Msg: "cidr " + quote(raw) + " has host bits set (write the masked form " + quote(m.String()) + ")"})
			continue
		}
		if d, bad := insideAlwaysDenied(pfx); bad {
			errs = append(errs, &FieldError{Path: fp, Msg: "cidr " + quote(raw) + " lies inside " + d.String() + ", a " +
				ClassifyAddr(d.Addr()).Class.String() + " range the address guard always denies (remove it)"})
			continue
		}
		out = append(out, pfx)
	}
	return out, errs
}
