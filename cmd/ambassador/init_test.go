package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/capture/nstest"
	"github.com/meshlite/meshlite/internal/cli"
	"github.com/meshlite/meshlite/internal/testnet"
)

// initHelperEnv, when set, makes TestInitHelperProcess run "ambassador" with
// the JSON-encoded arguments it holds and exit with its code: the namespace
// tests run the command that way under "ip netns exec", so that it changes
// the namespace the test created and no other.
const initHelperEnv = "MESHLITE_INIT_HELPER_ARGS"

func TestInitHelperProcess(t *testing.T) {
	raw := os.Getenv(initHelperEnv)
	if raw == "" {
		t.Skip("helper process for the namespace tests of ambassador init")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	os.Exit(cli.Run(rootCmd(os.Stdout, os.Stderr), args, os.Stdout, os.Stderr))
}

// result is what a run of the command left behind.
type result struct {
	code           int
	stdout, stderr string
}

// runInProcess runs the command in this process. Every case that gets this
// far without --dry-run would change this namespace, so it is refused.
func runInProcess(t *testing.T, args ...string) result {
	t.Helper()
	if !containsAny(args, "--dry-run", "--help") {
		t.Fatalf("in-process runs of init must be --dry-run: %q", args)
	}
	var stdout, stderr strings.Builder
	code := cli.Run(rootCmd(&stdout, &stderr), args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

// runInNS runs the command inside ns.
func runInNS(t *testing.T, ns nstest.NS, args ...string) result {
	t.Helper()
	return runInNSWith(t, ns, nil, args...)
}

// runInNSWith runs the command inside ns under the wrapper command (setpriv,
// say), if any.
func runInNSWith(t *testing.T, ns nstest.NS, wrapper []string, args ...string) result {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	argv := append(wrapper, os.Args[0], "-test.run=^TestInitHelperProcess$")
	cmd := ns.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), initHelperEnv+"="+string(encoded))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func containsAny(args []string, want ...string) bool {
	for _, a := range args {
		for _, w := range want {
			if a == w {
				return true
			}
		}
	}
	return false
}

// resolvConf writes a resolv.conf naming one resolver and returns its path.
func resolvConf(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte("search svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestInitDryRunPrintsTheGoldenRendering(t *testing.T) {
	want, err := os.ReadFile("../../internal/ambassador/capture/testdata/defaults.nft")
	if err != nil {
		t.Fatal(err)
	}
	r := runInProcess(t, "init", "--dry-run", "--resolv-conf", resolvConf(t))
	if r.code != 0 || r.stdout != string(want) || r.stderr != "" {
		t.Errorf("exit %d, stderr %q, stdout:\n%s\nwant exit 0, no stderr, stdout:\n%s", r.code, r.stderr, r.stdout, want)
	}
}

func TestInitCommandLine(t *testing.T) {
	conf := resolvConf(t)
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring; "" means no stdout
		wantStderr string // substring
	}{
		{"flags reach the ruleset", []string{"--exclude-ports", "5432,3306", "--exclude-cidrs", "10.20.0.0/16,fd00:10::/64", "--dns", "10.96.0.10,fd00::a", "--allow-udp", "--proxy-uid", "2102", "--capture-port", "15006"}, 0,
			"\t\ttcp dport { 3306, 5432 } return\n\t\tip daddr 10.20.0.0/16 return\n\t\tip6 daddr fd00:10::/64 return\n\t\tmeta l4proto tcp redirect to :15006\n", ""},
		{"dns overrides resolv.conf", []string{"--dns", "fd00::a"}, 0, "\t\tip6 daddr fd00::a udp dport 53 accept\n\t\ticmpv6", ""},
		{"no resolvers warns", []string{"--resolv-conf", filepath.Join(t.TempDir(), "missing")}, 0, "\t\tmeta l4proto tcp accept\n\t\ticmpv6", "warning: no DNS resolvers"},
		{"empty dns warns", []string{"--dns="}, 0, "redirect to :15001", "warning: no DNS resolvers (--dns is empty)"},
		{"proxy uid 0", []string{"--proxy-uid", "0"}, 1, "", "--proxy-uid 0: the ambassador must not run as root (the capture exempts this user's traffic)"},
		{"proxy gid 0", []string{"--proxy-gid", "0"}, 1, "", "--proxy-gid 0: the ambassador must not run as root"},
		{"capture port 0", []string{"--capture-port", "0"}, 1, "", "--capture-port 0: not a TCP port (use 1-65535)"},
		{"exclude port out of range", []string{"--exclude-ports", "5432,65536"}, 1, "", "--exclude-ports 65536: not a TCP port"},
		{"exclude port not a number", []string{"--exclude-ports", "postgres"}, 1, "", `--exclude-ports "postgres": not a port number`},
		{"capture port excluded", []string{"--exclude-ports", "15001"}, 1, "", "--exclude-ports 15001: that is the capture port"},
		{"bad cidr", []string{"--exclude-cidrs", "10.0.0/8"}, 1, "", `--exclude-cidrs "10.0.0/8": not a CIDR`},
		{"cidr with host bits", []string{"--exclude-cidrs", "10.1.2.3/16"}, 1, "", "did you mean 10.1.0.0/16?"},
		{"bad dns", []string{"--dns", "kube-dns"}, 1, "", `--dns "kube-dns": not an IP address`},
		{"every bad flag named", []string{"--proxy-uid", "0", "--dns", "x", "--capture-port", "70000"}, 1, "", "--dns \"x\": not an IP address (give resolver addresses like 10.96.0.10 or fd00::a, comma-separated)\n--proxy-uid 0:"},
		{"uid not a number", []string{"--proxy-uid", "-1"}, 2, "", `invalid argument "-1" for "--proxy-uid" flag`},
		{"unknown flag", []string{"--redirect-everything"}, 2, "", "unknown flag: --redirect-everything"},
		{"positional argument", []string{"eth0"}, 2, "", `unknown command "eth0"`},
		{"cleanup", []string{"--cleanup"}, 0, "delete table inet meshlite\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"init", "--dry-run", "--resolv-conf", conf}, tc.args...)
			r := runInProcess(t, args...)
			if r.code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stdout %q, stderr %q)", r.code, tc.wantCode, r.stdout, r.stderr)
			}
			if tc.wantStdout == "" && r.stdout != "" {
				t.Errorf("unexpected stdout %q", r.stdout)
			}
			if !strings.Contains(r.stdout, tc.wantStdout) {
				t.Errorf("stdout:\n%s\nwant it to contain:\n%s", r.stdout, tc.wantStdout)
			}
			if !strings.Contains(r.stderr, tc.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", r.stderr, tc.wantStderr)
			}
			if tc.wantStderr == "" && r.stderr != "" {
				t.Errorf("unexpected stderr %q", r.stderr)
			}
		})
	}
}

// TestInitInANamespace runs the command in a namespace holding an unrelated
// table: what it installs lists as its dry run, a second run changes
// nothing, a bad flag changes nothing, and --cleanup leaves the ruleset as it
// was before.
func TestInitInANamespace(t *testing.T) {
	ns := nstest.NewNS(t)
	other := ns.Command("nft", "-f", "-")
	other.Stdin = strings.NewReader("table inet other {\n\tchain out {\n\t\ttype filter hook output priority 10; policy accept;\n\t\tudp dport 9 counter drop\n\t}\n}\n")
	if out, err := other.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
	before := ns.Nft(t, "list", "ruleset")
	flags := []string{"--resolv-conf", resolvConf(t), "--exclude-ports", "5432", "--exclude-cidrs", "fd00:10::/64"}

	bad := runInNS(t, ns, append([]string{"init", "--proxy-uid", "0"}, flags...)...)
	if bad.code != 1 || !strings.Contains(bad.stderr, "--proxy-uid 0:") || bad.stdout != "" {
		t.Errorf("bad flag: exit %d, stdout %q, stderr %q; want 1 and the flag named", bad.code, bad.stdout, bad.stderr)
	}
	if got := ns.Nft(t, "list", "ruleset"); got != before {
		t.Fatalf("a bad flag changed the ruleset:\n%s\nbefore:\n%s", got, before)
	}

	dry := runInProcess(t, append([]string{"init", "--dry-run"}, flags...)...)
	first := runInNS(t, ns, append([]string{"init"}, flags...)...)
	if first.code != 0 || first.stderr != "" {
		t.Fatalf("init: exit %d, stderr %q", first.code, first.stderr)
	}
	for _, want := range []string{"capture installed: table inet meshlite, 14 rules\n", "redirected to port 15001\n", "exempt: uid 1337 gid 1337, loopback, tcp ports 5432, cidrs fd00:10::/64\n", "resolvers (port 53): 10.96.0.10\n"} {
		if !strings.Contains(first.stdout, want) {
			t.Errorf("summary:\n%s\nwant it to contain %q", first.stdout, want)
		}
	}
	if got := ns.Nft(t, "list", "table", "inet", "meshlite"); got != dry.stdout {
		t.Errorf("installed:\n%s\nthe dry run printed:\n%s", got, dry.stdout)
	}
	installed := ns.Nft(t, "list", "ruleset")
	if !strings.Contains(installed, "table inet other {") {
		t.Errorf("init removed the unrelated table:\n%s", installed)
	}

	if again := runInNS(t, ns, append([]string{"init"}, flags...)...); again.code != 0 {
		t.Fatalf("second init: exit %d, stderr %q", again.code, again.stderr)
	}
	if got := ns.Nft(t, "list", "ruleset"); got != installed {
		t.Errorf("after a second init:\n%s\nafter the first:\n%s", got, installed)
	}
	if bad := runInNS(t, ns, append([]string{"init", "--exclude-cidrs", "10.1.2.3/16"}, flags...)...); bad.code == 0 {
		t.Errorf("bad cidr: exit 0, want non-zero")
	}
	if got := ns.Nft(t, "list", "ruleset"); got != installed {
		t.Errorf("a bad flag changed the installed ruleset:\n%s\nwant:\n%s", got, installed)
	}

	for i := range 2 { // the second finds no table, which is no error
		r := runInNS(t, ns, "init", "--cleanup")
		if r.code != 0 || r.stdout != "capture removed: table inet meshlite deleted\n" || r.stderr != "" {
			t.Errorf("cleanup %d: exit %d, stdout %q, stderr %q", i+1, r.code, r.stdout, r.stderr)
		}
		if got := ns.Nft(t, "list", "ruleset"); got != before {
			t.Errorf("after cleanup %d:\n%s\nbefore init:\n%s", i+1, got, before)
		}
	}
}

// TestInitNeedsOnlyNetAdmin runs the command with every capability but
// CAP_NET_ADMIN dropped from the bounding set (as an init container with
// only NET_ADMIN added), then with none: the first installs, the second fails
// with a hint and changes nothing.
func TestInitNeedsOnlyNetAdmin(t *testing.T) {
	testnet.RequireNetns(t, "ip", "nft", "setpriv")
	ns := nstest.NewNS(t)
	conf := resolvConf(t)
	none := []string{"setpriv", "--bounding-set=-all", "--inh-caps=-all"}
	r := runInNSWith(t, ns, none, "init", "--resolv-conf", conf)
	if r.code != 1 || !strings.Contains(r.stderr, "operation not permitted (changing nftables needs CAP_NET_ADMIN") {
		t.Errorf("without capabilities: exit %d, stderr %q; want 1 and the CAP_NET_ADMIN hint", r.code, r.stderr)
	}
	if got := ns.Nft(t, "list", "ruleset"); got != "" {
		t.Errorf("a refused init changed the ruleset:\n%s", got)
	}
	netAdmin := []string{"setpriv", "--bounding-set=-all,+net_admin", "--inh-caps=-all"}
	if r := runInNSWith(t, ns, netAdmin, "init", "--resolv-conf", conf); r.code != 0 {
		t.Fatalf("with CAP_NET_ADMIN only: exit %d, stderr %q", r.code, r.stderr)
	}
	if got := ns.Nft(t, "list", "ruleset"); !strings.Contains(got, "table inet meshlite {") {
		t.Errorf("with CAP_NET_ADMIN only, nothing was installed:\n%s", got)
	}
	if r := runInNSWith(t, ns, netAdmin, "init", "--cleanup"); r.code != 0 {
		t.Errorf("cleanup with CAP_NET_ADMIN only: exit %d, stderr %q", r.code, r.stderr)
	}
}
