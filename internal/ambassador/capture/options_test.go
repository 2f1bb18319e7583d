package capture_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
)

func TestValidateNamesTheFlagAndTheFix(t *testing.T) {
	cases := []struct {
		name   string
		change func(*capture.Options)
		want   []string // substrings of the error
	}{
		{"proxy uid root", func(o *capture.Options) { o.ProxyUID = 0 },
			[]string{"--proxy-uid 0: the ambassador must not run as root (the capture exempts this user's traffic)"}},
		{"proxy gid root", func(o *capture.Options) { o.ProxyGID = 0 }, []string{"--proxy-gid 0:", "must not run as root"}},
		{"proxy uid -1", func(o *capture.Options) { o.ProxyUID = 1<<32 - 1 }, []string{"--proxy-uid 4294967295:", "not a valid user id"}},
		{"capture port 0", func(o *capture.Options) { o.CapturePort = 0 }, []string{"--capture-port 0: not a TCP port (use 1-65535)"}},
		{"capture port too big", func(o *capture.Options) { o.CapturePort = 65536 }, []string{"--capture-port 65536:"}},
		{"exclude port 0", func(o *capture.Options) { o.ExcludePorts = []int{5432, 0} }, []string{"--exclude-ports 0: not a TCP port"}},
		{"exclude port too big", func(o *capture.Options) { o.ExcludePorts = []int{70000} }, []string{"--exclude-ports 70000:"}},
		{"capture port excluded", func(o *capture.Options) { o.ExcludePorts = []int{15001} },
			[]string{"--exclude-ports 15001: that is the capture port", "remove it"}},
		{"cidr with host bits", func(o *capture.Options) { o.ExcludeCIDRs = prefixes("10.1.2.3/16") },
			[]string{"--exclude-cidrs 10.1.2.3/16: host bits are set (did you mean 10.1.0.0/16?)"}},
		{"cidr of everything", func(o *capture.Options) { o.ExcludeCIDRs = prefixes("::/0") }, []string{"--exclude-cidrs ::/0:", "turns the capture off"}},
		{"invalid cidr", func(o *capture.Options) { o.ExcludeCIDRs = []netip.Prefix{{}} }, []string{"--exclude-cidrs invalid Prefix: not a CIDR"}},
		{"dns unspecified", func(o *capture.Options) { o.DNS = addrs("0.0.0.0") }, []string{"--dns 0.0.0.0: not a resolver address"}},
		{"dns multicast", func(o *capture.Options) { o.DNS = addrs("ff02::fb") }, []string{"--dns ff02::fb:"}},
		{"dns invalid", func(o *capture.Options) { o.DNS = []netip.Addr{{}} }, []string{"--dns invalid IP:"}},
		{"every problem at once", func(o *capture.Options) { o.ProxyUID, o.CapturePort = 0, 0 }, []string{"--proxy-uid 0:", "\n--capture-port 0:"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := defaults()
			tc.change(&o)
			err := o.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if rs, err := capture.New(o); err == nil || rs != nil {
				t.Errorf("New() = %v, %v; want no ruleset and an error", rs, err)
			}
		})
	}
}

func TestValidateAcceptsGoodOptions(t *testing.T) {
	for _, tc := range goldenCases {
		if err := tc.opts().Validate(); err != nil {
			t.Errorf("%s: Validate() = %v", tc.name, err)
		}
	}
}

func TestParseFlagValues(t *testing.T) {
	ports, err := capture.ParsePorts([]string{"5432", " 3306"})
	if err != nil || len(ports) != 2 || ports[0] != 5432 || ports[1] != 3306 {
		t.Errorf("ParsePorts = %v, %v", ports, err)
	}
	if _, err := capture.ParsePorts([]string{"db"}); err == nil || !strings.Contains(err.Error(), `--exclude-ports "db": not a port number`) {
		t.Errorf("ParsePorts(db) error = %v", err)
	}
	cidrs, err := capture.ParseCIDRs([]string{"10.0.0.0/8", "fd00::1", "192.0.2.7"})
	if err != nil || len(cidrs) != 3 || cidrs[1] != netip.MustParsePrefix("fd00::1/128") || cidrs[2] != netip.MustParsePrefix("192.0.2.7/32") {
		t.Errorf("ParseCIDRs = %v, %v", cidrs, err)
	}
	if _, err := capture.ParseCIDRs([]string{"10.0.0/8"}); err == nil || !strings.Contains(err.Error(), `--exclude-cidrs "10.0.0/8": not a CIDR`) {
		t.Errorf("ParseCIDRs(10.0.0/8) error = %v", err)
	}
	dns, err := capture.ParseAddrs([]string{"10.96.0.10", "fe80::1%eth0"})
	if err != nil || len(dns) != 2 || dns[1].Zone() != "eth0" {
		t.Errorf("ParseAddrs = %v, %v", dns, err)
	}
	if _, err := capture.ParseAddrs([]string{"kube-dns"}); err == nil || !strings.Contains(err.Error(), `--dns "kube-dns": not an IP address`) {
		t.Errorf("ParseAddrs(kube-dns) error = %v", err)
	}
}
