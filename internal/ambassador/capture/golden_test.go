package capture_test

import (
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// defaults are the options of "ambassador init" without flags, in a pod
// whose resolv.conf names one resolver.
func defaults() capture.Options {
	return capture.Options{
		ProxyUID:    capture.DefaultProxyUID,
		ProxyGID:    capture.DefaultProxyGID,
		CapturePort: capture.DefaultCapturePort,
		DNS:         addrs("10.96.0.10"),
	}
}

// goldenCases are the flag combinations whose rendering is kept under
// testdata/NAME.nft; the namespace tests install each of them too.
var goldenCases = []struct {
	name string
	opts func() capture.Options
}{
	{"defaults", defaults},
	{"exclude", func() capture.Options {
		o := defaults()
		o.ExcludePorts = []int{5432, 3306, 5432}
		o.ExcludeCIDRs = prefixes("10.20.0.0/16", "192.168.1.0/25", "fd00:10::/64", "2001:db8::1/128", "203.0.113.7/32")
		return o
	}},
	{"exclude-one-each", func() capture.Options {
		o := defaults()
		o.ExcludePorts = []int{6379}
		o.ExcludeCIDRs = prefixes("10.20.0.0/16")
		return o
	}},
	{"dns-both-families", func() capture.Options {
		o := defaults()
		o.DNS = addrs("10.96.0.10", "fd00::a", "10.96.0.11", "fe80::1%eth0", "::ffff:10.96.0.10")
		return o
	}},
	{"allow-udp", func() capture.Options {
		o := defaults()
		o.AllowUDP = true
		return o
	}},
	{"no-dns", func() capture.Options {
		o := defaults()
		o.DNS = nil
		return o
	}},
	{"other-ids-and-port", func() capture.Options {
		o := defaults()
		o.ProxyUID, o.ProxyGID, o.CapturePort = 2102, 3103, 15006
		return o
	}},
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := capture.New(tc.opts())
			if err != nil {
				t.Fatal(err)
			}
			got := rs.String()
			path := filepath.Join("testdata", tc.name+".nft")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("rendering differs from %s (run go test -update if the change is intended)\ngot:\n%s\nwant:\n%s", path, got, want)
			}
		})
	}
}

func TestRulesCountsBothChains(t *testing.T) {
	rs, err := capture.New(defaults())
	if err != nil {
		t.Fatal(err)
	}
	// nat: owner, lo, DNS, redirect; filter: owner, lo, ct invalid, ct
	// established, tcp, DNS, ND, reject.
	if got, want := rs.Rules(), 12; got != want {
		t.Errorf("Rules() = %d, want %d\n%s", got, want, rs)
	}
}

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, v := range s {
		out[i] = netip.MustParseAddr(v)
	}
	return out
}

func prefixes(s ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(s))
	for i, v := range s {
		out[i] = netip.MustParsePrefix(v)
	}
	return out
}
