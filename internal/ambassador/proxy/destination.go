package proxy

import (
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/meshlite/meshlite/pkg/policy"
	"github.com/meshlite/meshlite/pkg/routes"
)

// destination is where a request asks to go, as the door saw it.
type destination struct {
	scheme   string
	host     string // as received; the policy normalises it
	port     uint16
	path     string // decoded and cleaned
	rawQuery string
	local    bool // arrived at a local mapping door
}

// head is what the pipeline reads of a request: its method, its target
// as net/url parses it (as net/http's server did), and its one Host header,
// all from the gate's checked head rather than from the HTTP engine's own
// (normalised) view.
type head struct {
	method string
	url    *url.URL
	host   string // the Host header as sent
}

// headOf parses a checked request-target the way net/http's server does.
func headOf(method, target, host string) (head, error) {
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return head{method: method, host: host}, badRequest("request target " + strconv.Quote(truncate(target)) + " is not a valid URI")
	}
	return head{method: method, url: u, host: host}, nil
}

// destinationOf reads the destination of a non-CONNECT request. orig is
// where the app connected to, at the transparent door.
func destinationOf(r head, d *door, orig netip.AddrPort) (destination, error) {
	if err := checkPath(r.url.Path); err != nil {
		return destination{}, err
	}
	dest := destination{path: policy.CleanPath(r.url.Path), rawQuery: r.url.RawQuery}
	if d.name == DoorLocal {
		dest.scheme, dest.port, dest.local = "http", d.port, true
		dest.host = localHost(r.host)
		return dest, nil
	}
	if d.name == DoorTransparent {
		return transparentDestination(r, dest, orig)
	}
	if !r.url.IsAbs() {
		return dest, badRequest("the forward-proxy door takes absolute-form requests (GET http://host/path) " +
			"or CONNECT host:port; for origin-form requests call a local mapping port")
	}
	if r.url.Scheme != "http" {
		return dest, badRequest("scheme " + strconv.Quote(r.url.Scheme) +
			" is not proxied in absolute form: send https through CONNECT, use http otherwise")
	}
	host, port, err := policy.SplitHostPort(r.url.Host, 80)
	if err != nil {
		return dest, err
	}
	if err := sameHost(r.url.Host, host, port, r.host); err != nil {
		return dest, err
	}
	dest.scheme, dest.host, dest.port = "http", host, port
	return dest, nil
}

// sameHost refuses a Host header that names another host than the
// request's target (authority, normalised as host and port): the request
// is decided and sent on the target alone, and a second, different name
// in the same request is what request-smuggling and cache-poisoning
// attacks are made of. A Host without a port matches any port.
func sameHost(authority, host string, port uint16, header string) error {
	if header == "" {
		return nil
	}
	hh, hp, err := policy.SplitHostPort(header, port)
	if err != nil || hh != host || hp != port {
		return badRequest("target host " + strconv.Quote(truncate(authority)) +
			" differs from Host header " + strconv.Quote(truncate(header)))
	}
	return nil
}

// String renders the destination as the URL the client asked for.
func (d destination) String() string {
	u := url.URL{Scheme: d.scheme, Host: hostPort(d.host, d.port, 80), Path: d.path, RawQuery: d.rawQuery}
	return truncate(u.String())
}

// upstreamURL is where an unmapped request goes: the normalised host, the
// cleaned path (the one the policy judged), the query kept.
func (d destination) upstreamURL(host string) *url.URL {
	return &url.URL{Scheme: d.scheme, Host: hostPort(host, d.port, 80), Path: d.path, RawQuery: d.rawQuery}
}

func hostPort(host string, port, defaultPort uint16) string {
	if port == defaultPort {
		if strings.Contains(host, ":") {
			return "[" + host + "]"
		}
		return host
	}
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// checkPath refuses paths that some upstream servers would read as leaving
// the directory they name, in ways path cleaning does not see: a dot
// segment with parameters ("..;x"), backslashes, NUL and invalid UTF-8 (an
// over-long encoding of "."). A path must be rooted ("*" is refused too).
func checkPath(p string) error {
	if p != "" && p[0] != '/' {
		return badRequest("request path " + strconv.Quote(truncate(p)) + " is not rooted (want /path)")
	}
	if !utf8.ValidString(p) || strings.ContainsAny(p, "\\\x00") {
		return badRequest("request path " + strconv.Quote(truncate(p)) + " has a backslash, NUL or invalid UTF-8")
	}
	for seg := range strings.SplitSeq(p, "/") {
		if name, _, ok := strings.Cut(seg, ";"); ok && (name == "." || name == "..") {
			return badRequest("request path " + strconv.Quote(truncate(p)) + " has a dot segment with parameters")
		}
	}
	return nil
}

// localHost is the host a request at a local mapping door asked for: the
// loopback name of its Host header ("localhost:8080", "[::1]:8080",
// "[::1]") in normal form, or "localhost" for any other header (the door
// is on loopback whatever the client wrote).
func localHost(hostHeader string) string {
	h := hostHeader
	if host, _, err := net.SplitHostPort(hostHeader); err == nil {
		h = host
	}
	if lh, ok := routes.LoopbackHost(h); ok {
		return lh
	}
	return "localhost"
}
