package capture

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The flags of "ambassador init", named here so that every error about an
// option names the flag that sets it.
const (
	FlagProxyUID     = "--proxy-uid"
	FlagProxyGID     = "--proxy-gid"
	FlagCapturePort  = "--capture-port"
	FlagExcludePorts = "--exclude-ports"
	FlagExcludeCIDRs = "--exclude-cidrs"
	FlagDNS          = "--dns"
)

// Defaults of "ambassador init".
const (
	DefaultProxyUID    = 1337
	DefaultProxyGID    = 1337
	DefaultCapturePort = 15001
)

// Options say what the capture redirects and what it lets through. The zero
// value is not valid: ProxyUID, ProxyGID and CapturePort must be set.
type Options struct {
	// ProxyUID and ProxyGID identify the ambassador's own sockets: traffic
	// from a socket owned by this user AND this group is neither redirected
	// nor filtered. 0 (root) is refused.
	ProxyUID, ProxyGID uint32
	// CapturePort is the local TCP port every other outbound TCP connection
	// is redirected to (the transparent door), 1-65535.
	CapturePort int
	// ExcludePorts are TCP destination ports never redirected (a database,
	// say), 1-65535. Empty: none.
	ExcludePorts []int
	// ExcludeCIDRs are destination networks, IPv4 or IPv6, never redirected.
	// Host bits must be zero. Empty: none.
	ExcludeCIDRs []netip.Prefix
	// DNS are the resolvers the pod may reach on port 53, TCP and UDP. Empty:
	// DNS is blocked (TCP to port 53 is still redirected).
	DNS []netip.Addr
	// AllowUDP lets all outbound UDP through; false rejects UDP other than
	// DNS to the resolvers above.
	AllowUDP bool
}

// Validate reports every bad option, one line each, naming the flag and how
// to fix it.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	checkID := func(flag, what string, id uint32) {
		switch id {
		case 0:
			bad("%s 0: the ambassador must not run as root (the capture exempts this %s's traffic)", flag, what)
		case 1<<32 - 1:
			bad("%s %d: not a valid %s id ((uid_t)-1 means \"none\"); use the id the ambassador container runs as", flag, id, what)
		}
	}
	checkID(FlagProxyUID, "user", o.ProxyUID)
	checkID(FlagProxyGID, "group", o.ProxyGID)
	if err := checkPort(FlagCapturePort, o.CapturePort); err != nil {
		errs = append(errs, err)
	}
	for _, p := range o.ExcludePorts {
		if err := checkPort(FlagExcludePorts, p); err != nil {
			errs = append(errs, err)
		} else if p == o.CapturePort {
			bad("%s %d: that is the capture port; redirected connections arrive there, so it cannot be exempt (remove it)", FlagExcludePorts, p)
		}
	}
	for _, p := range o.ExcludeCIDRs {
		if err := checkCIDR(p); err != nil {
			errs = append(errs, err)
		}
	}
	for _, a := range o.DNS {
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() {
			bad("%s %s: not a resolver address (give the unicast IP address of a DNS server)", FlagDNS, a)
		}
	}
	return errors.Join(errs...)
}

func checkPort(flag string, p int) error {
	if p < 1 || p > 65535 {
		return fmt.Errorf("%s %d: not a TCP port (use 1-65535)", flag, p)
	}
	return nil
}

func checkCIDR(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("%s %s: not a CIDR (write it like 10.0.0.0/8 or fd00::/8)", FlagExcludeCIDRs, p)
	case p.Bits() == 0:
		return fmt.Errorf("%s %s: exempts every address of the family, which turns the capture off (list the networks to exempt)", FlagExcludeCIDRs, p)
	case p.Masked() != p:
		return fmt.Errorf("%s %s: host bits are set (did you mean %s?)", FlagExcludeCIDRs, p, p.Masked())
	}
	return nil
}

// ParsePorts parses the values of --exclude-ports.
func ParsePorts(values []string) ([]int, error) {
	var ports []int
	var errs []error
	for _, v := range values {
		p, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: not a port number (use 1-65535, comma-separated)", FlagExcludePorts, v))
			continue
		}
		ports = append(ports, p)
	}
	return ports, errors.Join(errs...)
}

// ParseCIDRs parses the values of --exclude-cidrs. A bare address is taken as
// a single host (/32 or /128).
func ParseCIDRs(values []string) ([]netip.Prefix, error) {
	var prefixes []netip.Prefix
	var errs []error
	for _, v := range values {
		v = strings.TrimSpace(v)
		if a, err := netip.ParseAddr(v); err == nil && a.Zone() == "" {
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: not a CIDR (write it like 10.0.0.0/8 or fd00::/8, comma-separated)", FlagExcludeCIDRs, v))
			continue
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, errors.Join(errs...)
}

// ParseAddrs parses the values of --dns.
func ParseAddrs(values []string) ([]netip.Addr, error) {
	var addrs []netip.Addr
	var errs []error
	for _, v := range values {
		a, err := netip.ParseAddr(strings.TrimSpace(v))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: not an IP address (give resolver addresses like 10.96.0.10 or fd00::a, comma-separated)", FlagDNS, v))
			continue
		}
		addrs = append(addrs, a)
	}
	return addrs, errors.Join(errs...)
}
