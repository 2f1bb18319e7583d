// Command ambassador is meshlite's per-pod egress proxy: it maps the app's
// localhost URIs to real services, denies every destination no rule allows,
// retries what is safe to retry and writes one audit line per request.
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

	"github.com/meshlite/meshlite/internal/ambassador"
	"github.com/meshlite/meshlite/internal/config"
	"github.com/meshlite/meshlite/internal/telemetry"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// errProblems marks a failure already reported line by line.
var errProblems = errors.New("problems found")

// usageError wraps flag and argument mistakes (exit 2).
type usageError struct{ error }

// run executes the command line and returns the exit code: 0 success,
// 1 failure, 2 usage error. Every failure says what went wrong on stderr.
func run(args []string, stdout, stderr io.Writer) int {
	root := rootCmd(stdout, stderr)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := root.Execute()
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errProblems):
		return 1
	case errors.As(err, &usage) || isUnknownCommand(err):
		fmt.Fprintln(stderr, err)
		fmt.Fprintln(stderr, "run 'ambassador --help' for usage")
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

func isUnknownCommand(err error) bool { return strings.HasPrefix(err.Error(), "unknown command") }

func rootCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:               "ambassador",
		Short:             "meshlite ambassador: URI mapping, deny-by-default egress, retries and an audit line per request",
		Args:              usageArgs(cobra.NoArgs),
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
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
	cmd.AddCommand(checkConfigCmd(stdout, stderr), versionCmd(stdout))
	return cmd
}

func checkConfigCmd(stdout, stderr io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config FILE...",
		Short: "validate RouteTable files and process settings files; one line per problem",
		Args:  usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(_ *cobra.Command, files []string) error {
			problems := ambassador.CheckFiles(files)
			for _, p := range problems {
				fmt.Fprintln(stderr, p)
			}
			if len(problems) > 0 {
				return errProblems
			}
			fmt.Fprintf(stdout, "%d file(s) OK\n", len(files))
			return nil
		},
	}
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  usageArgs(cobra.NoArgs),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, "ambassador", telemetry.Version)
		},
	}
}

func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}
