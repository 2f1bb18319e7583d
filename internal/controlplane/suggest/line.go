package suggest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// Decisions, as the audit line's "decision" field spells them.
const (
	decisionAllow     = "allow"
	decisionDeny      = "deny"
	decisionWouldDeny = "would_deny"
)

// truncMark ends a URL the ambassador cut short at 2048 bytes.
const truncMark = "…(truncated)"

// auditLine holds the audit-line fields suggest reads (README "Audit log";
// the ambassador's audit package names them). Other fields are ignored.
type auditLine struct {
	TS       string `json:"ts"`
	Method   string `json:"method"`
	URL      string `json:"url"`
	Route    string `json:"route"`
	Upstream string `json:"upstream"`
	Decision string `json:"decision"`
	Reason   string `json:"reason"`
	Workload string `json:"workload"`
}

// parseLine decodes one audit line and checks the fields every line needs.
func parseLine(raw []byte) (auditLine, time.Time, error) {
	var l auditLine
	if err := json.Unmarshal(raw, &l); err != nil {
		return l, time.Time{}, fmt.Errorf("not an audit line (JSON: %v)", err)
	}
	switch l.Decision {
	case decisionAllow, decisionDeny, decisionWouldDeny:
	case "":
		return l, time.Time{}, errors.New(`no "decision" field`)
	default:
		return l, time.Time{}, fmt.Errorf("decision %q is not allow, deny or would_deny", clip(l.Decision))
	}
	ts, err := time.Parse(time.RFC3339Nano, l.TS)
	if err != nil {
		return l, time.Time{}, fmt.Errorf("ts %q is not an RFC 3339 time", clip(l.TS))
	}
	return l, ts, nil
}

// destination is where a line went, as the policy judges it.
type destination struct {
	host   string     // normalised; an IP literal's canonical text
	ip     netip.Addr // valid when host is an IP literal
	port   uint16
	tunnel bool   // CONNECT, or a relayed TLS or TCP stream: rules with methods or paths never allow it
	method string // HTTP method; "" for a tunnel
	path   string // cleaned; "" for a tunnel
}

// key is the destination as reports print it: "host:port", "[v6]:port".
func (d destination) key() string { return hostPort(d.host, d.port) }

// parseDestination reads the destination of a line from its method and url:
// "http://host[:port]/path" for HTTP, "host:port" for CONNECT, TLS and TCP.
func parseDestination(method, raw string) (destination, error) {
	switch method {
	case "":
		return destination{}, errors.New(`no "method" field`)
	case "CONNECT", "TLS", "TCP":
		host, port, err := policy.SplitHostPort(raw, 0)
		if err != nil {
			return destination{}, fmt.Errorf("%s url %q: %v", method, clip(raw), err)
		}
		return newDestination(host, port, true, "", ""), nil
	}
	raw, truncated := strings.CutSuffix(raw, truncMark)
	if truncated {
		raw = dropPartialSegment(raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return destination{}, fmt.Errorf("url %q: %v", clip(raw), err)
	}
	var def uint16
	switch u.Scheme {
	case "http":
		def = 80
	case "https":
		def = 443
	default:
		return destination{}, fmt.Errorf("url %q: not an http URL", clip(raw))
	}
	host, port, err := policy.SplitHostPort(u.Host, def)
	if err != nil {
		return destination{}, fmt.Errorf("url %q: %v", clip(raw), err)
	}
	return newDestination(host, port, false, method, policy.CleanPath(u.Path)), nil
}

func newDestination(host string, port uint16, tunnel bool, method, path string) destination {
	d := destination{host: host, port: port, tunnel: tunnel, method: method, path: path}
	if a, err := netip.ParseAddr(host); err == nil {
		d.ip = a
	}
	return d
}

// dropPartialSegment cuts a truncated URL back to its last whole path
// segment, so that the path suggested from it is a prefix of the real one.
func dropPartialSegment(raw string) string {
	if q := strings.IndexByte(raw, '?'); q >= 0 {
		return raw[:q] // the path before the query is whole
	}
	start := strings.Index(raw, "://")
	if start < 0 {
		return raw
	}
	slash := strings.LastIndexByte(raw, '/')
	if slash <= start+2 {
		return raw // cut inside the host: the parse will say so
	}
	return raw[:slash]
}

// alwaysDenied says why the address guard denies d in every mode (loopback,
// link-local, metadata, the ambassador's own listeners, deny ranges), or
// ok false. For a deny line the policy's reason tells what the name
// resolved to.
func alwaysDenied(d destination, decision, reason string) (why string, ok bool) {
	if d.ip.IsValid() {
		if info := policy.ClassifyAddr(d.ip); info.Class.AlwaysDenied() {
			return classLabel(info), true
		}
	}
	if _, ok := routes.LoopbackHost(d.host); ok || strings.HasSuffix(d.host, ".localhost") {
		return "loopback name", true
	}
	if decision != decisionDeny {
		return "", false
	}
	switch {
	case strings.Contains(reason, "own listener"):
		return "the ambassador's own listener", true
	case strings.Contains(reason, "deny range"):
		return "inside a deny range", true
	case !strings.Contains(reason, "(always denied"):
		return "", false
	}
	if _, rest, ok := strings.Cut(reason, " resolves to "); ok {
		addr, _, _ := strings.Cut(rest, ",")
		if a, err := netip.ParseAddr(addr); err == nil {
			return "resolves to " + a.String() + ", " + classLabel(policy.ClassifyAddr(a)), true
		}
	}
	return "always denied by the address guard", true
}

// classLabel names an address class as a reviewer reads it.
func classLabel(info policy.AddrInfo) string {
	s := info.Class.String()
	if info.Embedded.IsValid() {
		s += " (" + info.Form + " form of " + info.Embedded.String() + ")"
	}
	return s
}

// privateUpstream reports whether the address a line dialled ("ip:port") is
// private: only a rule naming its host exactly (or allowPrivate) reaches it.
func privateUpstream(upstream string) bool {
	ap, err := netip.ParseAddrPort(upstream)
	return err == nil && policy.ClassifyAddr(ap.Addr()).Class == policy.Private
}

// pathPrefix generalises a clean path to its first depth segments:
// "/a/b/c" at depth 1 is "/a"; "/" stays "/".
func pathPrefix(p string, depth int) string {
	n := 0
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			if n++; n == depth {
				return p[:i]
			}
		}
	}
	if p = strings.TrimSuffix(p, "/"); p == "" {
		return "/"
	}
	return p
}

func hostPort(host string, port uint16) string {
	if strings.IndexByte(host, ':') >= 0 {
		return fmt.Sprintf("[%s]:%d", host, port)
	}
	return fmt.Sprintf("%s:%d", host, port)
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const max = 120
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}
