// Command controlplane serves meshlite RouteTables from a directory to every
// ambassador over xDS (ADS), and validates such a directory for CI.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/controlplane"
	"github.com/meshlite/meshlite/internal/controlplane/xds"
	"github.com/meshlite/meshlite/internal/telemetry"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errProblems marks a failure already reported line by line.
var errProblems = errors.New("problems found")

// run executes the command line and returns the exit code: 0 success,
// 1 failure, 2 usage error.
func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "controlplane",
		Short:         "meshlite control plane: serves RouteTables to ambassadors over xDS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(serveCmd(stderr), validateCmd(stdout), versionCmd(stdout))
	err := root.Execute()
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errProblems):
		return 1
	case isUsage(err) || strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "run 'controlplane --help' for usage")
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// usageError wraps argument and flag mistakes.
type usageError struct{ error }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func args(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := cobra.ExactArgs(n)(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func serveCmd(stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "watch the RouteTable directory and serve it over ADS until SIGTERM",
		Args:  args(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.LoadControlPlane(cmd.Flags())
			if err != nil {
				return err
			}
			log, err := telemetry.NewLogger(stderr, cfg.LogLevel)
			if err != nil {
				return err
			}
			cp, err := controlplane.New(controlplane.Options{
				RoutesDir: cfg.Routes, Logger: log, Debounce: cfg.Debounce, Resync: cfg.Resync,
				AdminOpen: cfg.AdminOpen, ShutdownGrace: cfg.ShutdownGrace,
				XDS: xds.Options{
					MaxConnections: cfg.MaxConnections, MaxConcurrentStreams: uint32(cfg.MaxStreams),
					KeepaliveTime: cfg.KeepaliveTime, KeepaliveTimeout: cfg.KeepaliveTimeout,
					MinClientPing: cfg.MinClientPing, StopTimeout: cfg.ShutdownGrace,
				},
			})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			log.Info("controlplane: starting", "routes", cfg.Routes, "xds", cfg.XDS, "admin", cfg.Admin, "version", telemetry.Version)
			return cp.Run(ctx, cfg.XDS, cfg.Admin)
		},
	}
	config.ControlPlaneFlags(cmd.Flags())
	return cmd
}

func validateCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "validate DIR",
		Short: "check every RouteTable file in DIR; one line per problem, exit 1 on any",
		Args:  args(1),
		RunE: func(_ *cobra.Command, a []string) error {
			ok, err := controlplane.Validate(a[0], stdout)
			if err != nil {
				return err
			}
			if !ok {
				return errProblems
			}
			return nil
		},
	}
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  args(0),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, "controlplane", telemetry.Version)
		},
	}
}
