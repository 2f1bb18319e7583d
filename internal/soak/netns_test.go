package soak

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/meshlite/meshlite/internal/testnet"
)

// The soak runs in a network namespace of its own: its loopback also
// carries soakAddr, a private address that an egress `cidrs` rule can allow,
// so that CONNECT tunnels and forward-door requests are really proxied (the
// address guard denies loopback to everything but routes). Every packet
// stays on that namespace's loopback device.
const (
	soakAddr = "10.99.0.1"
	soakCIDR = "10.99.0.0/24"
	// inNetnsEnv marks the copy of the test binary that runs inside the
	// namespace; binEnv carries the ambassador binary's path to it.
	inNetnsEnv = "MESHLITE_SOAK_IN_NETNS"
	binEnv     = "MESHLITE_SOAK_AMBASSADOR"
)

// reexecInNetns runs this test again in a new network namespace (unshare
// -n), passing bin, and fails t if that run fails. Its output is this
// test's output.
func reexecInNetns(t *testing.T, bin string, limit time.Duration) {
	t.Helper()
	testnet.RequireNetns(t, "ip", "unshare")
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "--", os.Args[0],
		"-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", fmt.Sprintf("-test.timeout=%s", limit))
	cmd.Env = append(os.Environ(), inNetnsEnv+"=1", binEnv+"="+bin)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Run(); err != nil {
		t.Fatalf("the soak in its network namespace failed: %v", err)
	}
}

// setUpNamespace brings the new namespace's loopback up and gives it
// soakAddr.
func setUpNamespace(t *testing.T) {
	t.Helper()
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", soakAddr + "/32", "dev", "lo"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
}

// buildAmbassador builds the ambassador command as a release build is
// made (see the Makefile) into a temporary directory.
func buildAmbassador(t *testing.T) string {
	t.Helper()
	out := t.TempDir() + "/ambassador"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-tags", "grpcnotrace", "-o", out,
		"github.com/meshlite/meshlite/cmd/ambassador")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ambassador: %v\n%s", err, msg)
	}
	return out
}
