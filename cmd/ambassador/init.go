package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
	"github.com/meshlite/meshlite/internal/cli"
)

// initCmd is "ambassador init": the init container that installs the
// transparent capture into the pod's network namespace (or removes it).
func initCmd(stdout, stderr io.Writer) *cobra.Command {
	var f capture.Flags
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
		RunE: func(*cobra.Command, []string) error {
			if f.Cleanup {
				return runCleanup(stdout, f.DryRun)
			}
			rs, err := f.Ruleset()
			if err != nil {
				return err
			}
			if len(f.DNS) == 0 {
				source := f.ResolvConf + " names none and --dns is not given"
				if f.DNSGiven() {
					source = "--dns is empty"
				}
				fmt.Fprintf(stderr, "warning: no DNS resolvers (%s): DNS will be blocked; pass --dns to allow it\n", source)
			}
			if f.DryRun {
				return rs.Render(stdout)
			}
			if err := capture.Netlink(0).Install(rs); err != nil {
				return err
			}
			return capture.WriteSummary(stdout, f.Options, rs)
		},
	}
	f.Register(cmd.Flags())
	return cmd
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
