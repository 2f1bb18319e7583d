package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "already normal", in: "api.example.com", want: "api.example.com"},
		{name: "mixed case", in: "API.Example.COM", want: "api.example.com"},
		{name: "one trailing dot", in: "example.com.", want: "example.com"},
		{name: "IDN to punycode", in: "bücher.example", want: "xn--bcher-kva.example"},
		{name: "upper-case IDN", in: "BÜCHER.example", want: "xn--bcher-kva.example"},
		{name: "punycode stays", in: "xn--bcher-kva.example", want: "xn--bcher-kva.example"},
		{name: "ideographic full stop", in: "bücher。example", want: "xn--bcher-kva.example"},
		{name: "triple hyphen label", in: "r3---sn-abc.example.com", want: "r3---sn-abc.example.com"},
		{name: "underscore", in: "_svc.example.com", want: "_svc.example.com"},
		{name: "single label", in: "localhost", want: "localhost"},
		{name: "IPv4", in: "10.0.0.1", want: "10.0.0.1"},
		{name: "IPv4 trailing dot", in: "10.0.0.1.", want: "10.0.0.1"},
		{name: "IPv6 bracketed", in: "[::1]", want: "::1"},
		{name: "IPv6 bare upper case", in: "FE80::A", want: "fe80::a"},
		{name: "IPv4-mapped canonical", in: "::ffff:a9fe:a9fe", want: "::ffff:169.254.169.254"},
		{name: "63-char label", in: long63 + ".example", want: long63 + ".example"},
		{name: "empty", in: "", wantErr: "empty host"},
		{name: "only a dot", in: ".", wantErr: "empty host"},
		{name: "two trailing dots", in: "example.com..", wantErr: "ends with more than one dot"},
		{name: "leading dot", in: ".example.com", wantErr: "starts with a dot"},
		{name: "empty label", in: "a..example.com", wantErr: "empty label"},
		{name: "64-char label", in: long63 + "a.example", wantErr: "longer than 63"},
		{name: "over-long name", in: strings.Repeat(long63+".", 4) + "com", wantErr: "longer than 253"},
		{name: "space", in: "exa mple.com", wantErr: "invalid character ' '"},
		{name: "slash", in: "example.com/x", wantErr: "invalid character '/'"},
		{name: "at sign", in: "user@example.com", wantErr: "invalid character '@'"},
		{name: "leading hyphen", in: "-a.example.com", wantErr: "starts or ends with a hyphen"},
		{name: "bad punycode", in: "xn--a.example", wantErr: "not a valid host name"},
		{name: "short IPv4", in: "127.1", wantErr: "non-standard form"},
		{name: "decimal IPv4", in: "2130706433", wantErr: "non-standard form"},
		{name: "hex IPv4", in: "0x7f.0x1", wantErr: "non-standard form"},
		{name: "octal-looking IPv4", in: "0177.0.0.1", wantErr: "non-standard form"},
		{name: "IPv6 zone", in: "[fe80::1%eth0]", wantErr: "zones are not allowed"},
		{name: "IPv4 in brackets", in: "[10.0.0.1]", wantErr: "brackets are for IPv6"},
		{name: "unbalanced bracket", in: "[::1", wantErr: "unbalanced brackets"},
		{name: "not IPv6", in: "a:b", wantErr: "not a valid IPv6 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NormalizeHost(tt.in)
			if tt.wantErr != "" {
				var ie *InputError
				if !errors.As(err, &ie) || ie.Field != "host" || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NormalizeHost(%q) = %q, %v; want *InputError containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSplitHostPort(t *testing.T) {
	tests := []struct {
		name, in    string
		defaultPort uint16
		wantHost    string
		wantPort    uint16
		wantErr     string // substring; the field is checked too
		wantField   string
	}{
		{name: "name and port", in: "Example.com:443", wantHost: "example.com", wantPort: 443},
		{name: "bracketed IPv6", in: "[::1]:8080", wantHost: "::1", wantPort: 8080},
		{name: "IPv4", in: "10.0.0.1:80", wantHost: "10.0.0.1", wantPort: 80},
		{name: "default port", in: "example.com", defaultPort: 80, wantHost: "example.com", wantPort: 80},
		{name: "default port for bracketed IPv6", in: "[fd00::1]", defaultPort: 443, wantHost: "fd00::1", wantPort: 443},
		{name: "largest port", in: "a.example:65535", wantHost: "a.example", wantPort: 65535},
		{name: "missing port without default", in: "example.com", wantErr: "missing port", wantField: "port"},
		{name: "port 0", in: "example.com:0", wantErr: "zero", wantField: "port"},
		{name: "port 65536", in: "example.com:65536", wantErr: "above 65535", wantField: "port"},
		{name: "port -1", in: "example.com:-1", wantErr: "not a number", wantField: "port"},
		{name: "port name", in: "example.com:https", wantErr: "not a number", wantField: "port"},
		{name: "port with sign", in: "example.com:+80", wantErr: "not a number", wantField: "port"},
		{name: "empty port", in: "example.com:", defaultPort: 80, wantErr: "empty", wantField: "port"},
		{name: "unbracketed IPv6", in: "::1:80", wantErr: "needs brackets", wantField: "host"},
		{name: "unbracketed IPv6 no port", in: "fe80::1", defaultPort: 80, wantErr: "needs brackets", wantField: "host"},
		{name: "missing close bracket", in: "[::1:80", wantErr: `missing "]"`, wantField: "host"},
		{name: "junk after bracket", in: "[::1]80", wantErr: `unexpected text after "]"`, wantField: "host"},
		{name: "empty host", in: ":80", wantErr: "empty host", wantField: "host"},
		{name: "empty input", in: "", defaultPort: 80, wantErr: "empty host", wantField: "host"},
		{name: "bad host", in: "ex ample.com:80", wantErr: "invalid character", wantField: "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port, err := SplitHostPort(tt.in, tt.defaultPort)
			if tt.wantErr != "" {
				var ie *InputError
				if !errors.As(err, &ie) || ie.Field != tt.wantField || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitHostPort(%q) = %q, %d, %v; want %s error containing %q", tt.in, host, port, err, tt.wantField, tt.wantErr)
				}
				return
			}
			if err != nil || host != tt.wantHost || port != tt.wantPort {
				t.Fatalf("SplitHostPort(%q) = %q, %d, %v; want %q, %d", tt.in, host, port, err, tt.wantHost, tt.wantPort)
			}
		})
	}
}

func TestInputErrorQuotesClientInput(t *testing.T) {
	_, err := NormalizeHost("a\r\nX-Injected: 1")
	if err == nil || strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error %q must exist and hold no raw line breaks", err)
	}
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"example.com", "Bücher.Example.", "xn--bcher-kva.example", "[::1]", "::ffff:1.2.3.4",
		"127.1", "a..b", "_x.y", "r3---sn.example", "1.2.3.4.", "[fe80::1%25eth0]", "ＡＢＣ.example", "a\u200db.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeHost(in)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("NormalizeHost(%q) error %T is not *InputError", in, err)
			}
			return
		}
		again, err := NormalizeHost(out)
		if err != nil || again != out {
			t.Fatalf("NormalizeHost(%q) = %q, which re-normalises to %q, %v", in, out, again, err)
		}
	})
}

func FuzzSplitHostPort(f *testing.F) {
	for _, s := range []string{"example.com:443", "[::1]:80", "::1:80", "a:0", "a:65536", "a:-1", "a:https", "a:", "[::1]", "bücher.example:8080"} {
		f.Add(s, uint16(0))
		f.Add(s, uint16(80))
	}
	f.Fuzz(func(t *testing.T, in string, def uint16) {
		host, port, err := SplitHostPort(in, def)
		if err != nil {
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("SplitHostPort(%q) error %T is not *InputError", in, err)
			}
			return
		}
		if port == 0 {
			t.Fatalf("SplitHostPort(%q) returned port 0 without error", in)
		}
		if again, err := NormalizeHost(host); err != nil || again != host {
			t.Fatalf("host %q from %q re-normalises to %q, %v", host, in, again, err)
		}
		joined := hostPort(host, port)
		h2, p2, err := SplitHostPort(joined, 0)
		if err != nil || h2 != host || p2 != port {
			t.Fatalf("SplitHostPort(%q) = %q, %d, %v; want %q, %d back", joined, h2, p2, err, host, port)
		}
	})
}
