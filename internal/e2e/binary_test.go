package e2e

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"
)

// buildBinaries builds the ambassador and controlplane commands into a
// temporary directory and returns their paths by name.
func buildBinaries(t *testing.T) map[string]string {
	t.Helper()
	return testnet.BuildCommandsT(t, nil, "ambassador", "controlplane")
}

// TestBinaryRejectsBadInvocationWithAMessage runs the built commands with
// bad arguments: each must exit non-zero and say on stderr what was wrong,
// never fail silently.
func TestBinaryRejectsBadInvocationWithAMessage(t *testing.T) {
	bins := buildBinaries(t)
	tests := []struct {
		name     string
		binary   string
		args     []string
		mentions string
	}{
		{"ambassador unknown flag", "ambassador", []string{"--no-such-flag"}, "no-such-flag"},
		{"ambassador unknown command", "ambassador", []string{"no-such-command"}, "no-such-command"},
		{"ambassador check-config without files", "ambassador", []string{"check-config"}, "arg"},
		{"ambassador check-config missing file", "ambassador", []string{"check-config", "/nonexistent/missing.yaml"}, "missing.yaml"},
		{"controlplane unknown flag", "controlplane", []string{"serve", "--no-such-flag"}, "no-such-flag"},
		{"controlplane validate without directory", "controlplane", []string{"validate"}, "arg"},
		{"controlplane validate missing directory", "controlplane", []string{"validate", "/nonexistent/routes"}, "/nonexistent/routes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			defer cancel()
			var stderr bytes.Buffer
			cmd := exec.CommandContext(ctx, bins[tc.binary], tc.args...)
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("%s %v: want a non-zero exit, got %v", tc.binary, tc.args, err)
			}
			if !strings.Contains(stderr.String(), tc.mentions) {
				t.Errorf("%s %v: exit %d, stderr %q does not mention %q", tc.binary, tc.args, exit.ExitCode(), stderr.String(), tc.mentions)
			}
		})
	}
}
