// Package peers makes sure the comparison proxies (nginx, haproxy, squid) are
// installed, installing the missing ones with apt-get when allowed.
package peers

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
)

// Package maps a peer binary to the Debian package that provides it.
type Package struct {
	Binary  string // name looked up in PATH and the sbin directories, e.g. "nginx"
	Package string // Debian package name, e.g. "nginx-light"
}

// Known lists the peers the harness can compare against.
var Known = []Package{
	{Binary: "nginx", Package: "nginx-light"},
	{Binary: "haproxy", Package: "haproxy"},
	{Binary: "squid", Package: "squid"},
}

// sbinDirs are searched as well as PATH: a non-root PATH often lacks them.
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// Lookup returns the absolute path of a peer binary, or "" when absent.
func Lookup(binary string) string {
	if p, err := exec.LookPath(binary); err == nil {
		return p
	}
	for _, dir := range sbinDirs {
		p := dir + "/" + binary
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// Ensure installs the packages whose binaries are missing. It runs
// `apt-get update` once and then one `apt-get install -y` for all of them,
// non-interactively, and never starts the distribution's services (the
// harness runs its own copies in the foreground).
func Ensure(ctx context.Context, log *slog.Logger, want []Package) error {
	var missing []string
	for _, p := range want {
		if Lookup(p.Binary) == "" {
			missing = append(missing, p.Package)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	log.Info("installing missing peers", "packages", strings.Join(missing, " "))
	if err := aptGet(ctx, "update"); err != nil {
		return err
	}
	args := append([]string{"install", "-y"}, missing...)
	if err := aptGet(ctx, args...); err != nil {
		return err
	}
	for _, p := range want {
		if Lookup(p.Binary) == "" {
			return fmt.Errorf("peers: %s still missing after installing %s", p.Binary, p.Package)
		}
	}
	return nil
}

func aptGet(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "apt-get", args...)
	cmd.Env = append(os.Environ(),
		"DEBIAN_FRONTEND=noninteractive",
		"RUNLEVEL=1", // invoke-rc.d then starts no service during install
	)
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("peers: apt-get %s: %w\n%s", strings.Join(args, " "), err, tail(string(out), 20))
	}
	return nil
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
