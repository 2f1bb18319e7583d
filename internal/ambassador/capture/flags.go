package capture

import (
	"errors"

	"github.com/spf13/pflag"
)

// Flags are the command line of "ambassador init". Register defines them on
// a flag set (the command, and the manifest tests that check init
// containers' args against the real flags); Ruleset turns the parsed values
// into a validated ruleset.
type Flags struct {
	Options
	ports, cidrs, dns []string
	// ResolvConf is the file whose nameserver lines are the default resolvers.
	ResolvConf      string
	DryRun, Cleanup bool
	fs              *pflag.FlagSet
}

// Register defines the flags on fs, with their defaults.
func (f *Flags) Register(fs *pflag.FlagSet) {
	f.fs = fs
	fs.Uint32Var(&f.ProxyUID, FlagProxyUID[2:], DefaultProxyUID, "user id the ambassador runs as; its traffic is not captured (0 refused)")
	fs.Uint32Var(&f.ProxyGID, FlagProxyGID[2:], DefaultProxyGID, "group id the ambassador runs as; uid and gid must both match to be exempt (0 refused)")
	fs.IntVar(&f.CapturePort, FlagCapturePort[2:], DefaultCapturePort, "local port outbound TCP is redirected to (the ambassador's --transparent door)")
	fs.StringSliceVar(&f.ports, FlagExcludePorts[2:], nil, "TCP destination ports never redirected, comma-separated (e.g. a database: 5432)")
	fs.StringSliceVar(&f.cidrs, FlagExcludeCIDRs[2:], nil, "destination networks never redirected, IPv4 or IPv6, comma-separated")
	fs.StringSliceVar(&f.dns, FlagDNS[2:], nil, "DNS resolvers the pod may reach on port 53, comma-separated (default: the nameserver lines of /etc/resolv.conf)")
	fs.StringVar(&f.ResolvConf, "resolv-conf", DefaultResolvConf, "file whose nameserver lines are the default resolvers")
	fs.BoolVar(&f.AllowUDP, "allow-udp", false, "let all outbound UDP out (default: only DNS to the resolvers)")
	fs.BoolVar(&f.DryRun, "dry-run", false, "print the ruleset as nft text and change nothing")
	fs.BoolVar(&f.Cleanup, "cleanup", false, "delete the meshlite table and nothing else (no error when it is absent)")
	if err := fs.MarkHidden("resolv-conf"); err != nil {
		panic(err)
	}
}

// DNSGiven reports whether --dns was set (possibly to nothing).
func (f *Flags) DNSGiven() bool { return f.fs != nil && f.fs.Changed(FlagDNS[2:]) }

// Ruleset completes the options from the list flags and builds the ruleset;
// the error names every bad flag, not only the first.
func (f *Flags) Ruleset() (*Ruleset, error) { return f.build(true) }

// Check validates the flags as Ruleset does, without reading the resolvers
// from ResolvConf: for checking an init container's args away from its pod.
func (f *Flags) Check() error {
	_, err := f.build(false)
	return err
}

func (f *Flags) build(readResolvConf bool) (*Ruleset, error) {
	var errs [4]error
	f.ExcludePorts, errs[0] = ParsePorts(f.ports)
	f.ExcludeCIDRs, errs[1] = ParseCIDRs(f.cidrs)
	switch {
	case f.DNSGiven():
		f.DNS, errs[2] = ParseAddrs(f.dns)
	case readResolvConf:
		f.DNS, errs[2] = ReadResolvConf(f.ResolvConf)
	}
	rs, err := New(f.Options)
	errs[3] = err
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return rs, nil
}
