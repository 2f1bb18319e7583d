// Command ambassador is meshlite's per-pod egress proxy: it maps the app's
// localhost URIs to real services, denies every destination no rule allows,
// retries what is safe to retry and writes one audit line per request.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/ambassador"
	"github.com/meshlite/meshlite/internal/cli"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/telemetry"
)

func main() {
	telemetry.HeapProfileOffByDefault()
	os.Exit(cli.Run(rootCmd(os.Stdout, os.Stderr), os.Args[1:], os.Stdout, os.Stderr))
}

func rootCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ambassador",
		Short: "meshlite ambassador: URI mapping, deny-by-default egress, retries and an audit line per request",
		Args:  cli.Args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadAmbassador(cmd.Flags())
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return ambassador.Run(ctx, cfg, stdout, stderr)
		},
	}
	config.AmbassadorFlags(cmd.Flags())
	cmd.AddCommand(checkConfigCmd(stdout, stderr), cli.VersionCmd("ambassador", telemetry.Version, stdout))
	cmd.AddCommand(initCmd(stdout, stderr))
	return cmd
}

func checkConfigCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE...",
		Short: "validate RouteTable files and process settings files; one line per problem",
		Args:  cli.Args(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, files []string) error {
			problems := ambassador.CheckFiles(files)
			for _, p := range problems {
				fmt.Fprintln(stderr, p)
			}
			if len(problems) > 0 {
				return cli.ErrProblems
			}
			fmt.Fprintf(stdout, "%d file(s) OK\n", len(files))
			return nil
		},
	}
}
