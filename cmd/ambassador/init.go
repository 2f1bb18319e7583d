package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
	"github.com/meshlite/meshlite/internal/cli"
)

// initCmd is "ambassador init": the init container that installs the
// transparent capture into the pod's network namespace (or removes it).
func initCmd(stdout, stderr io.Writer) *cobra.Command {
	var (
		o                 capture.Options
		ports, cidrs, dns []string
		resolvConf        string
		dryRun, cleanup   bool
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "install the nftables capture that sends the pod's outbound TCP to the transparent door (needs CAP_NET_ADMIN)",
		Long: `init installs one nftables table, inet meshlite, into the network namespace
it runs in, replacing any previous one atomically: outbound TCP is redirected
to --capture-port, except the ambassador's own (--proxy-uid and --proxy-gid),
loopback, DNS to the resolvers and the exclusions; UDP other than DNS, ICMP
and other protocols are rejected unless --allow-udp. --dry-run prints the
ruleset as nft text and changes nothing; --cleanup deletes the table.`,
		Args: cli.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cleanup {
				return runCleanup(stdout, dryRun)
			}
			rs, err := buildRuleset(&o, ports, cidrs, dns, cmd.Flags().Changed("dns"), resolvConf)
			if err != nil {
				return err
			}
			if len(o.DNS) == 0 {
				source := resolvConf + " names none and --dns is not given"
				if cmd.Flags().Changed("dns") {
					source = "--dns is empty"
				}
				fmt.Fprintf(stderr, "warning: no DNS resolvers (%s): DNS will be blocked; pass --dns to allow it\n", source)
			}
			if dryRun {
				return rs.Render(stdout)
			}
			if err := capture.Netlink(0).Install(rs); err != nil {
				return err
			}
			return capture.WriteSummary(stdout, o, rs)
		},
	}
	f := cmd.Flags()
	f.Uint32Var(&o.ProxyUID, "proxy-uid", capture.DefaultProxyUID, "user id the ambassador runs as; its traffic is not captured (0 refused)")
	f.Uint32Var(&o.ProxyGID, "proxy-gid", capture.DefaultProxyGID, "group id the ambassador runs as; uid and gid must both match to be exempt (0 refused)")
	f.IntVar(&o.CapturePort, "capture-port", capture.DefaultCapturePort, "local port outbound TCP is redirected to (the ambassador's --transparent door)")
	f.StringSliceVar(&ports, "exclude-ports", nil, "TCP destination ports never redirected, comma-separated (e.g. a database: 5432)")
	f.StringSliceVar(&cidrs, "exclude-cidrs", nil, "destination networks never redirected, IPv4 or IPv6, comma-separated")
	f.StringSliceVar(&dns, "dns", nil, "DNS resolvers the pod may reach on port 53, comma-separated (default: the nameserver lines of /etc/resolv.conf)")
	f.StringVar(&resolvConf, "resolv-conf", capture.DefaultResolvConf, "file whose nameserver lines are the default resolvers")
	f.BoolVar(&o.AllowUDP, "allow-udp", false, "let all outbound UDP out (default: only DNS to the resolvers)")
	f.BoolVar(&dryRun, "dry-run", false, "print the ruleset as nft text and change nothing")
	f.BoolVar(&cleanup, "cleanup", false, "delete the meshlite table and nothing else (no error when it is absent)")
	if err := f.MarkHidden("resolv-conf"); err != nil {
		panic(err)
	}
	return cmd
}

// buildRuleset completes o from the list flags and builds the ruleset;
// the error names every bad flag, not only the first.
func buildRuleset(o *capture.Options, ports, cidrs, dns []string, dnsGiven bool, resolvConf string) (*capture.Ruleset, error) {
	var errs [4]error
	o.ExcludePorts, errs[0] = capture.ParsePorts(ports)
	o.ExcludeCIDRs, errs[1] = capture.ParseCIDRs(cidrs)
	if dnsGiven {
		o.DNS, errs[2] = capture.ParseAddrs(dns)
	} else {
		o.DNS, errs[2] = capture.ReadResolvConf(resolvConf)
	}
	rs, err := capture.New(*o)
	errs[3] = err
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	return rs, nil
}

func runCleanup(stdout io.Writer, dryRun bool) error {
	if dryRun {
		_, err := fmt.Fprintf(stdout, "delete table inet %s\n", capture.TableName)
		return err
	}
	if err := capture.Netlink(0).Remove(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "capture removed: table inet %s deleted\n", capture.TableName)
	return err
}
