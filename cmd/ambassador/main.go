// Command ambassador is meshlite's per-pod egress proxy: it maps the app's
// localhost URIs to real services, denies every destination no rule allows,
// retries what is safe to retry and writes one audit line per request.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/ambassador"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/telemetry"
)

func main() {
	if err := root().Execute(); err != nil {
		os.Exit(1)
	}
}

func root() *cobra.Command {
	cmd := &cobra.Command{
		Use:               "ambassador",
		Short:             "meshlite ambassador: URI mapping, deny-by-default egress, retries and an audit line per request",
		Args:              cobra.NoArgs,
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadAmbassador(cmd.Flags())
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			if err := ambassador.Run(ctx, cfg, os.Stdout, os.Stderr); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return err
			}
			return nil
		},
	}
	config.AmbassadorFlags(cmd.Flags())
	cmd.AddCommand(checkConfig(), version())
	return cmd
}

func checkConfig() *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE...",
		Short: "validate RouteTable files and process settings files; one line per problem",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			problems := ambassador.CheckFiles(files)
			for _, p := range problems {
				fmt.Fprintln(os.Stderr, p)
			}
			if len(problems) > 0 {
				return fmt.Errorf("%d problem(s)", len(problems))
			}
			fmt.Fprintf(os.Stdout, "%d file(s) OK\n", len(files))
			return nil
		},
		SilenceUsage: true,
	}
}

func version() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Println("ambassador", telemetry.Version)
		},
	}
}
