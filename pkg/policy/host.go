package policy

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// idnaProfile is the lookup profile (mapping, normalisation, bidi and joiner
// checks) without the hyphen rule, because labels such as "r3---sn-abc" are
// in real use, and without the strict ASCII rule, because NormalizeHost
// checks ASCII itself and allows '_'.
var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.BidiRule(),
	idna.Transitional(false),
	idna.StrictDomainName(false),
	idna.CheckHyphens(false),
)

const (
	maxNameLen  = 253
	maxLabelLen = 63
)

// NormalizeHost lower-cases, strips one trailing dot and converts IDNA to
// punycode. Malformed names return an *InputError.
//
// IP literals are returned in canonical form (IPv6 without brackets); a zone
// ("%eth0") is rejected. A name whose last label is numeric ("127.1",
// "0x7f.1", "2130706433") is rejected, because some resolvers read it as an
// IPv4 address in a non-standard form. Already-normal ASCII names are
// returned without allocating.
func NormalizeHost(host string) (string, error) {
	name, _, err := normalizeHost(host)
	return name, err
}

// normalizeHost is NormalizeHost that also returns the parsed address when
// host is an IP literal (invalid otherwise).
func normalizeHost(host string) (string, netip.Addr, error) {
	if host == "" {
		return "", netip.Addr{}, hostError(host, "empty host")
	}
	name := strings.TrimSuffix(host, ".")
	if a, ok, err := parseIPLiteral(host, name); ok || err != nil {
		if err != nil {
			return "", netip.Addr{}, err
		}
		return canonicalIP(host, a), a, nil
	}
	if !isLowerASCIIName(name) || strings.Contains(name, "xn--") {
		mapped, msg := toPunycode(name)
		if msg != "" {
			return "", netip.Addr{}, hostError(host, msg)
		}
		name = mapped
	}
	if msg := checkName(name); msg != "" {
		return "", netip.Addr{}, hostError(host, msg)
	}
	return name, netip.Addr{}, nil
}

// canonicalIP returns a's canonical text, reusing host when it already is
// (so the common case does not allocate).
func canonicalIP(host string, a netip.Addr) string {
	var buf [64]byte
	if b := a.AppendTo(buf[:0]); string(b) == host {
		return host
	}
	return a.String()
}

// parseIPLiteral recognises "[v6]", a bare v6 and a dotted-quad v4.
// ok is false (and err nil) when host is not meant as an IP literal.
func parseIPLiteral(host, name string) (netip.Addr, bool, error) {
	inner := name
	bracketed := strings.HasPrefix(host, "[")
	if bracketed {
		if !strings.HasSuffix(host, "]") {
			return netip.Addr{}, false, hostError(host, "unbalanced brackets")
		}
		inner = host[1 : len(host)-1]
	}
	if !bracketed && !strings.Contains(inner, ":") && !looksNumeric(inner) {
		return netip.Addr{}, false, nil
	}
	a, err := netip.ParseAddr(inner)
	switch {
	case err != nil && bracketed:
		return netip.Addr{}, false, hostError(host, "brackets must hold an IPv6 address")
	case err != nil && strings.Contains(inner, ":"):
		return netip.Addr{}, false, hostError(host, "not a valid IPv6 address")
	case err != nil:
		return netip.Addr{}, false, nil // a numeric-looking name: checkName rejects it
	case a.Zone() != "":
		return netip.Addr{}, false, hostError(host, "IPv6 zones are not allowed")
	case bracketed && !a.Is6():
		return netip.Addr{}, false, hostError(host, "brackets are for IPv6 addresses only")
	}
	return a, true, nil
}

// looksNumeric reports whether s has only digits and dots (a v4 candidate).
func looksNumeric(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && c != '.' {
			return false
		}
	}
	return s != ""
}

// isLowerASCIIName reports whether s has only characters checkName accepts,
// so the IDNA step can be skipped.
func isLowerASCIIName(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// checkName validates a lower-case ASCII name; it returns "" when valid or
// the reason it is not.
func checkName(name string) string {
	switch {
	case name == "":
		return "empty host"
	case len(name) > maxNameLen:
		return "longer than 253 characters"
	case strings.HasPrefix(name, "."):
		return "starts with a dot"
	case strings.HasSuffix(name, "."):
		return "ends with more than one dot"
	case strings.Contains(name, ".."):
		return `contains an empty label ("..")`
	}
	last := ""
	for label := range strings.SplitSeq(name, ".") {
		if msg := checkLabel(label); msg != "" {
			return msg
		}
		last = label
	}
	if isNumericLabel(last) {
		return "looks like an IPv4 address in a non-standard form (write it as a.b.c.d)"
	}
	return ""
}

func checkLabel(label string) string {
	if len(label) > maxLabelLen {
		return "label " + quote(label) + " is longer than 63 characters"
	}
	if label[0] == '-' || label[len(label)-1] == '-' {
		return "label " + quote(label) + " starts or ends with a hyphen"
	}
	for i := 0; i < len(label); i++ {
		if !isNameByte(label[i]) {
			return "invalid character " + quoteByte(label[i]) + " (use letters, digits, '-' and '_')"
		}
	}
	return ""
}

// isNumericLabel reports whether a last label would be read as a number by
// inet_aton-style parsers: all digits, or "0x" followed by hex digits.
func isNumericLabel(s string) bool {
	if h, ok := strings.CutPrefix(s, "0x"); ok {
		s = h
		for i := 0; i < len(s); i++ {
			if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func quoteByte(c byte) string { return strconv.QuoteRuneToASCII(rune(c)) }

// toPunycode maps a name through the IDNA profile. The result must map to
// itself, so that a normalised host is stable (the profile would otherwise
// turn invalid UTF-8 into a punycode label it then refuses).
func toPunycode(name string) (string, string) {
	if !utf8.ValidString(name) {
		return "", "not valid UTF-8"
	}
	mapped, err := idnaProfile.ToASCII(name)
	if err != nil {
		return "", "not a valid host name: " + idnaReason(err)
	}
	if mapped != name {
		if again, err := idnaProfile.ToASCII(mapped); err != nil || again != mapped {
			return "", "not a valid host name: its punycode form is not stable"
		}
	}
	return mapped, ""
}

// idnaReason shortens an idna error to its message without the package prefix.
func idnaReason(err error) string {
	return strings.TrimPrefix(err.Error(), "idna: ")
}

func hostError(host, msg string) *InputError {
	return &InputError{Field: "host", Value: host, Msg: msg}
}

// SplitHostPort parses "host:port" strictly (brackets required for IPv6,
// port 1..65535, digits only); defaultPort is used when the port is absent
// and defaultPort != 0. The host is returned normalised (NormalizeHost).
// Errors are *InputError.
func SplitHostPort(hostport string, defaultPort uint16) (host string, port uint16, err error) {
	rawHost, rawPort, hasPort, err := cutHostPort(hostport)
	if err != nil {
		return "", 0, err
	}
	if rawHost == "" {
		return "", 0, &InputError{Field: "host", Value: hostport, Msg: `empty host (write "host:port")`}
	}
	switch {
	case hasPort:
		if port, err = ParsePort(rawPort); err != nil {
			return "", 0, err
		}
	case defaultPort != 0:
		port = defaultPort
	default:
		return "", 0, &InputError{Field: "port", Value: hostport, Msg: `missing port (write "host:port")`}
	}
	if host, err = NormalizeHost(rawHost); err != nil {
		return "", 0, err
	}
	return host, port, nil
}

// cutHostPort separates the host (brackets kept) from the port text.
func cutHostPort(hostport string) (host, port string, hasPort bool, err error) {
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", "", false, &InputError{Field: "host", Value: hostport, Msg: `missing "]"`}
		}
		host, rest := hostport[:end+1], hostport[end+1:]
		if rest == "" {
			return host, "", false, nil
		}
		if rest[0] != ':' {
			return "", "", false, &InputError{Field: "host", Value: hostport, Msg: `unexpected text after "]" (write "[::1]:80")`}
		}
		return host, rest[1:], true, nil
	}
	switch strings.Count(hostport, ":") {
	case 0:
		return hostport, "", false, nil
	case 1:
		host, port, _ := strings.Cut(hostport, ":")
		return host, port, true, nil
	default:
		return "", "", false, &InputError{Field: "host", Value: hostport, Msg: `an IPv6 address needs brackets (write "[::1]:80")`}
	}
}

// ParsePort parses a decimal port in 1..65535 (digits only). Errors are
// *InputError.
func ParsePort(s string) (uint16, error) {
	n, err := parsePortNumber(s)
	if err == nil && n == 0 {
		err = errors.New("zero")
	}
	if err != nil {
		return 0, &InputError{Field: "port", Value: s, Msg: err.Error() + " (use 1..65535)"}
	}
	return n, nil
}
