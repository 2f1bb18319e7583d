package routes

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"

	"github.com/meshlite/meshlite/pkg/policy"
)

// endpoint is a validated source or target URL in normal form.
type endpoint struct {
	scheme string
	host   string // lower case, no brackets, no trailing dot (source only)
	port   uint16 // explicit, default filled in
	path   string // clean form, "/" when empty; trailing slash kept
	url    *url.URL
}

// defaultPort is the port a scheme implies.
func defaultPort(scheme string) uint16 {
	if scheme == "https" {
		return 443
	}
	return 80
}

// parseEndpoint checks raw as a route source or target URL. On failure it
// returns a message for a FieldError (what is wrong and how to fix it).
func parseEndpoint(raw string, source bool) (endpoint, string) {
	example := "http://numbers-api/path"
	if source {
		example = "http://localhost/api"
	}
	if raw == "" {
		return endpoint{}, "required (an absolute URL such as " + example + ")"
	}
	u, err := url.Parse(raw)
	if err != nil {
		msg := err.Error()
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			msg = ue.Err.Error() // without the repeated "parse URL:"
		}
		return endpoint{}, fmt.Sprintf("invalid URL %q: %s (write an absolute URL such as %s)", raw, msg, example)
	}
	if msg := checkURLShape(u, raw, source, example); msg != "" {
		return endpoint{}, msg
	}
	host, msg := checkHost(u.Hostname(), source, example)
	if msg != "" {
		return endpoint{}, msg
	}
	port, msg := checkPort(u)
	if msg != "" {
		return endpoint{}, msg
	}
	p, msg := checkPath(u)
	if msg == "" && source && u.RawPath != "" {
		msg = fmt.Sprintf("path %q: escapes such as %%2F are not supported in a source (write the path unescaped)", u.RawPath)
	}
	if msg != "" {
		return endpoint{}, msg
	}
	return newEndpoint(u.Scheme, host, port, p, u.RawPath), ""
}

// checkURLShape checks the scheme and the parts a route URL must not have.
func checkURLShape(u *url.URL, raw string, source bool, example string) string {
	switch {
	case u.Scheme == "" || u.Opaque != "":
		return fmt.Sprintf("%q is not an absolute URL (write scheme and host: %s)", raw, example)
	case source && u.Scheme != "http":
		return fmt.Sprintf("scheme %q not supported for a source (use http: apps call the ambassador in plain HTTP)", u.Scheme)
	case !source && u.Scheme != "http" && u.Scheme != "https":
		return fmt.Sprintf("scheme %q not supported (use http or https)", u.Scheme)
	case u.User != nil:
		return "must not contain user information (remove \"user@\"; credentials do not belong in a route)"
	case u.RawQuery != "" || u.ForceQuery:
		return "must not contain a query (remove \"?...\"; the request's own query is passed on)"
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return "must not contain a fragment (remove \"#...\")"
	}
	return ""
}

// checkHost validates a host name or IP literal and returns its normal form:
// lower case, IP literals canonical, and for sources one trailing dot removed.
func checkHost(h string, source bool, example string) (string, string) {
	if h == "" {
		return "", "host required (for example " + example + ")"
	}
	if strings.Contains(h, "%") {
		return "", fmt.Sprintf("host %q: zones and escapes are not supported", h)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap().String(), ""
	}
	h = strings.ToLower(h)
	if source {
		h = strings.TrimSuffix(h, ".")
	}
	if msg := checkDNSName(strings.TrimSuffix(h, ".")); msg != "" {
		return "", fmt.Sprintf("host %q: %s", h, msg)
	}
	return h, ""
}

// checkDNSName accepts ASCII host names: labels of letters, digits, '-' and
// '_', 1..63 long, 253 in all.
func checkDNSName(h string) string {
	if len(h) > 253 {
		return "longer than 253 characters"
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return "empty label (check for \"..\")"
		}
		if len(label) > 63 {
			return "label longer than 63 characters"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if c >= 0x80 {
				return "not ASCII (write international names in punycode: xn--...)"
			}
			if !isLowerAlnum(c) && c != '-' && c != '_' {
				return fmt.Sprintf("character %q not allowed (use letters, digits, '-', '_' and '.')", c)
			}
		}
	}
	return ""
}

func isLowerAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }

// checkPort returns the explicit port, or the scheme's default.
func checkPort(u *url.URL) (uint16, string) {
	p := u.Port()
	if p == "" {
		if strings.HasSuffix(u.Host, ":") {
			return 0, "empty port after ':' (remove the ':' or write a port 1..65535)"
		}
		return defaultPort(u.Scheme), ""
	}
	n, err := strconv.ParseUint(p, 10, 32)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Sprintf("port %s out of range (use 1..65535)", p)
	}
	return uint16(n), ""
}

// checkPath requires a path in clean form (no "//", "." or ".." segments),
// so that what the file says is what is matched and sent.
func checkPath(u *url.URL) (string, string) {
	p := u.Path
	if p == "" {
		return "/", ""
	}
	if c := policy.CleanPath(p); c != p {
		return "", fmt.Sprintf("path %q is not in clean form (write %q)", p, c)
	}
	return p, ""
}

// newEndpoint builds the normal form, with the URL's host carrying a port
// only when it is not the scheme's default.
func newEndpoint(scheme, host string, port uint16, p, rawPath string) endpoint {
	hostport := host
	if strings.Contains(host, ":") {
		hostport = "[" + host + "]"
	}
	if port != defaultPort(scheme) {
		hostport += ":" + strconv.Itoa(int(port))
	}
	u := &url.URL{Scheme: scheme, Host: hostport, Path: p}
	if rawPath != "" {
		u.RawPath = rawPath
	}
	return endpoint{scheme: scheme, host: host, port: port, path: p, url: u}
}

// LoopbackHosts are the source hosts the local mapping doors serve, in
// normal form. A source naming any of them opens a door on 127.0.0.1 and
// [::1] at its port (see Table.LocalPorts).
var LoopbackHosts = [...]string{"localhost", "127.0.0.1", "::1"}

// LoopbackHost returns the normal form of h when it names one of
// LoopbackHosts as a Host header may write it: ASCII case ignored, one
// trailing dot allowed, brackets around ::1 ("[::1]") and nothing else.
// ok is false otherwise.
func LoopbackHost(h string) (normal string, ok bool) {
	if len(h) >= 2 && h[0] == '[' && h[len(h)-1] == ']' {
		if h[1:len(h)-1] == "::1" {
			return "::1", true
		}
		return "", false
	}
	h = strings.TrimSuffix(h, ".")
	for _, lh := range LoopbackHosts {
		if equalFoldASCII(lh, h) {
			return lh, true
		}
	}
	return "", false
}
