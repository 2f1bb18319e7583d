// Package cli is what the meshlite commands share about running a cobra
// command line: exit codes (0 success, 1 failure, 2 usage mistake) and
// every failure said on stderr exactly once.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// ErrProblems marks a failure the command already reported line by line.
var ErrProblems = errors.New("problems found")

// usageError wraps flag and argument mistakes.
type usageError struct{ error }

// Args turns a positional-argument check's failure into a usage mistake.
func Args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// Run executes root with args and returns the exit code.
func Run(root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SilenceUsage, root.SilenceErrors = true, true
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	err := root.Execute()
	var usage usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrProblems):
		return 1
	case errors.As(err, &usage) || strings.HasPrefix(err.Error(), "unknown command"):
		fmt.Fprintln(stderr, err)
		fmt.Fprintf(stderr, "run '%s --help' for usage\n", root.Name())
		return 2
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// VersionCmd is the "version" subcommand: it prints the command's name and
// the build version.
func VersionCmd(name, version string, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "print the version",
		Args:  Args(cobra.NoArgs),
		Run: func(*cobra.Command, []string) {
			fmt.Fprintln(stdout, name, version)
		},
	}
}
