package policy

import (
	"net/netip"
	"testing"
)

func TestClassifyAddr(t *testing.T) {
	tests := []struct {
		name     string
		addr     string
		want     AddrClass
		embedded string // "" when the class is not decided by an embedded IPv4
		wantForm string
	}{
		{name: "public IPv4", addr: "93.184.216.34", want: Public},
		{name: "cloud metadata", addr: "169.254.169.254", want: Metadata},
		{name: "link-local next to metadata", addr: "169.254.169.253", want: LinkLocal},
		{name: "link-local start", addr: "169.254.0.1", want: LinkLocal},
		{name: "loopback start", addr: "127.0.0.1", want: Loopback},
		{name: "loopback end", addr: "127.255.255.254", want: Loopback},
		{name: "unspecified", addr: "0.0.0.0", want: Unspecified},
		{name: "this network", addr: "0.1.2.3", want: Unspecified},
		{name: "RFC 1918 10/8", addr: "10.255.0.1", want: Private},
		{name: "RFC 1918 172.16/12 start", addr: "172.16.0.1", want: Private},
		{name: "RFC 1918 172.16/12 end", addr: "172.31.255.255", want: Private},
		{name: "just above 172.16/12", addr: "172.32.0.1", want: Public},
		{name: "just below 172.16/12", addr: "172.15.255.255", want: Public},
		{name: "RFC 1918 192.168/16", addr: "192.168.1.1", want: Private},
		{name: "CGNAT start", addr: "100.64.0.0", want: Private},
		{name: "CGNAT end", addr: "100.127.255.255", want: Private},
		{name: "below CGNAT", addr: "100.63.255.254", want: Public},
		{name: "above CGNAT", addr: "100.128.0.1", want: Public},
		{name: "multicast", addr: "224.0.0.251", want: Multicast},
		{name: "multicast end", addr: "239.255.255.255", want: Multicast},
		{name: "reserved", addr: "240.0.0.1", want: Reserved},
		{name: "broadcast", addr: "255.255.255.255", want: Broadcast},
		{name: "IPv6 loopback", addr: "::1", want: Loopback},
		{name: "IPv6 unspecified", addr: "::", want: Unspecified},
		{name: "IPv6 link-local", addr: "fe80::1", want: LinkLocal},
		{name: "IPv6 link-local top of /10", addr: "febf::1", want: LinkLocal},
		{name: "IPv6 multicast", addr: "ff02::1", want: Multicast},
		{name: "ULA fc00::/7 fd", addr: "fd12:3456::1", want: Private},
		{name: "ULA fc00::/7 fc", addr: "fc00::1", want: Private},
		{name: "public IPv6", addr: "2606:4700::1111", want: Public},
		{name: "IPv4-mapped metadata", addr: "::ffff:169.254.169.254", want: Metadata, embedded: "169.254.169.254", wantForm: "IPv4-mapped"},
		{name: "IPv4-mapped loopback", addr: "::ffff:127.0.0.1", want: Loopback, embedded: "127.0.0.1", wantForm: "IPv4-mapped"},
		{name: "IPv4-mapped private", addr: "::ffff:10.0.0.1", want: Private, embedded: "10.0.0.1", wantForm: "IPv4-mapped"},
		{name: "IPv4-mapped public", addr: "::ffff:8.8.8.8", want: Public},
		{name: "IPv4-compatible metadata", addr: "::a9fe:a9fe", want: Metadata, embedded: "169.254.169.254", wantForm: "IPv4-compatible"},
		{name: "NAT64 metadata", addr: "64:ff9b::a9fe:a9fe", want: Metadata, embedded: "169.254.169.254", wantForm: "NAT64"},
		{name: "NAT64 loopback", addr: "64:ff9b::7f00:1", want: Loopback, embedded: "127.0.0.1", wantForm: "NAT64"},
		{name: "NAT64 public", addr: "64:ff9b::808:808", want: Public},
		{name: "local NAT64 /96 metadata", addr: "64:ff9b:1::a9fe:a9fe", want: Metadata, embedded: "169.254.169.254", wantForm: "NAT64"},
		{name: "local NAT64 /48 metadata", addr: "64:ff9b:1:a9fe:a9:fe00::", want: Metadata, embedded: "169.254.169.254", wantForm: "NAT64"},
		{name: "local NAT64 /48 public is at least private", addr: "64:ff9b:1:808:8:800::", want: Private},
		{name: "local NAT64 /96 public is at least private", addr: "64:ff9b:1::808:808", want: Private},
		{name: "local NAT64 /64 loopback", addr: "64:ff9b:1:0:7f:0:100:0", want: Loopback, embedded: "127.0.0.1", wantForm: "NAT64"},
		{name: "local NAT64 all zero", addr: "64:ff9b:1::", want: Unspecified, embedded: "0.0.0.0", wantForm: "NAT64"},
		{name: "6to4 metadata", addr: "2002:a9fe:a9fe::", want: Metadata, embedded: "169.254.169.254", wantForm: "6to4"},
		{name: "6to4 loopback", addr: "2002:7f00:1::1", want: Loopback, embedded: "127.0.0.1", wantForm: "6to4"},
		{name: "6to4 public", addr: "2002:808:808::1", want: Public},
		{name: "Teredo server metadata", addr: "2001:0:a9fe:a9fe::f7f7:f7f7", want: Metadata, embedded: "169.254.169.254", wantForm: "Teredo server"},
		{name: "Teredo client metadata", addr: "2001:0:808:808:8000:ffff:5601:5601", want: Metadata, embedded: "169.254.169.254", wantForm: "Teredo client"},
		{name: "Teredo client loopback", addr: "2001:0:808:808::80ff:fffe", want: Loopback, embedded: "127.0.0.1", wantForm: "Teredo client"},
		{name: "Teredo public both", addr: "2001:0:808:808::f7f7:f7f7", want: Public},
		{name: "documentation prefix is not Teredo", addr: "2001:db8::a9fe:a9fe", want: Public},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ClassifyAddr(netip.MustParseAddr(tt.addr))
			if got.Class != tt.want {
				t.Fatalf("ClassifyAddr(%s) = %s, want %s", tt.addr, got.Class, tt.want)
			}
			var wantEmb netip.Addr
			if tt.embedded != "" {
				wantEmb = netip.MustParseAddr(tt.embedded)
			}
			if got.Embedded != wantEmb || got.Form != tt.wantForm {
				t.Fatalf("ClassifyAddr(%s) embedded = %v (%q), want %v (%q)", tt.addr, got.Embedded, got.Form, wantEmb, tt.wantForm)
			}
		})
	}
}
