package proxy

import (
	"net"
	"net/http"
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

// destinationOf reads the destination of a non-CONNECT request.
func destinationOf(r *http.Request, d *door) (destination, error) {
	if err := checkPath(r.URL.Path); err != nil {
		return destination{}, err
	}
	dest := destination{path: policy.CleanPath(r.URL.Path), rawQuery: r.URL.RawQuery}
	if d.name == DoorLocal {
		dest.scheme, dest.port, dest.local = "http", d.port, true
		dest.host = localHost(r.Host)
		return dest, nil
	}
	if d.name == DoorTransparent {
		return transparentDestination(r, dest)
	}
	if !r.URL.IsAbs() {
		return dest, badRequest("the forward-proxy door takes absolute-form requests (GET http://host/path) " +
			"or CONNECT host:port; for origin-form requests call a local mapping port")
	}
	if r.URL.Scheme != "http" {
		return dest, badRequest("scheme " + strconv.Quote(r.URL.Scheme) +
			" is not proxied in absolute form: send https through CONNECT, use http otherwise")
	}
	host, port, err := policy.SplitHostPort(r.URL.Host, 80)
	if err != nil {
		return dest, err
	}
	dest.scheme, dest.host, dest.port = "http", host, port
	return dest, nil
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
