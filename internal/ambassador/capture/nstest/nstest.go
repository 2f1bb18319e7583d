// Package nstest gives tests of the capture a scratch network namespace
// to install into, and the nft command to look at it with. Tests touch only
// the namespaces they create here. It is imported by tests only.
package nstest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

var seq atomic.Int64

// Require skips t unless it runs as root with the ip and nft commands; under
// CI=true it fails instead, because CI must run these tests.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (creating a network namespace and changing its nftables need it)")
	}
	for _, cmd := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(cmd); err != nil {
			missing = append(missing, fmt.Sprintf("the %s command (scripts/test-deps.sh installs it)", cmd))
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "capture: namespace test needs " + strings.Join(missing, " and ")
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so this is a failure, not a skip")
	}
	t.Skip(msg + "; skipped")
}

// NS is a network namespace the test created.
type NS struct {
	Name string
	// FD is an open file of the namespace, for capture.Netlink.
	FD int
}

// NewNS creates a namespace named meshlite-cap-<pid>-<n> and deletes it when
// the test ends.
func NewNS(t testing.TB) NS {
	t.Helper()
	Require(t)
	name := fmt.Sprintf("meshlite-cap-%d-%d", os.Getpid(), seq.Add(1))
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "delete", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns delete %s: %v: %s", name, err, out)
		}
	})
	f, err := os.Open(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return NS{Name: name, FD: int(f.Fd())}
}

// Nft runs nft with args inside the namespace and returns its stdout.
func (ns NS) Nft(t testing.TB, args ...string) string {
	t.Helper()
	out, err := ns.Command("nft", args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("nft %s in %s: %v: %s", strings.Join(args, " "), ns.Name, err, stderr)
	}
	return string(out)
}

// Command is name with args, to run inside the namespace.
func (ns NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}
