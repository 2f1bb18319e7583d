package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/meshlite/meshlite/pkg/policy"
)

func loadAmb(t *testing.T, args ...string) (Ambassador, error) {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	AmbassadorFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return LoadAmbassador(fs)
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, err := loadAmb(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1080" || cfg.Admin != ":9901" || cfg.ShutdownGrace != 10*time.Second ||
		cfg.AuditOverflow != "block" || cfg.MaxIdleConnsPerHost != 256 || cfg.TunnelIdleTimeout != time.Hour {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "settings.yaml", "listen: 127.0.0.1:2000\nadmin: 127.0.0.1:2001\nlog-level: debug\n")
	t.Setenv("MESHLITE_ADMIN", "127.0.0.1:3001")
	t.Setenv("MESHLITE_LOG_LEVEL", "warn")
	cfg, err := loadAmb(t, "--config", file, "--log-level", "error")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:2000" {
		t.Errorf("file should set listen, got %q", cfg.Listen)
	}
	if cfg.Admin != "127.0.0.1:3001" {
		t.Errorf("environment should beat the file for admin, got %q", cfg.Admin)
	}
	if cfg.LogLevel != "error" {
		t.Errorf("flag should beat environment for log-level, got %q", cfg.LogLevel)
	}
}

func TestInvalidSettings(t *testing.T) {
	tests := []struct {
		name string
		file string
		args []string
		want string
	}{
		{"unknown key", "lisen: 127.0.0.1:1\n", nil, "lisen: unknown setting"},
		{"route table passed as settings", "apiVersion: meshlite/v1\nkind: RouteTable\n", nil, "pass it with --routes"},
		{"bad log level", "", []string{"--log-level", "loud"}, `log-level: "loud" is not a level`},
		{"bad overflow", "", []string{"--audit-overflow", "spill"}, "audit-overflow"},
		{"listen without port", "", []string{"--listen", "127.0.0.1"}, "config: listen:"},
		{"xds without workload", "", []string{"--xds", "cp:18000"}, "workload: required with --xds"},
		{"negative grace", "", []string{"--shutdown-grace", "-1s"}, "shutdown-grace: must not be negative"},
		{"zero tunnel idle timeout", "tunnel-idle-timeout: 0s\n", nil, "tunnel-idle-timeout: 0s must be positive"},
		{"deny-cidrs not a prefix", "", []string{"--deny-cidrs", "10.0.0.0/8,ten"},
			`config: --deny-cidrs[1]: cidr "ten" is not a prefix`},
		{"deny-cidrs host bits", "", []string{"--deny-cidrs", "10.1.0.0/8"},
			`config: --deny-cidrs[0]: cidr "10.1.0.0/8" has host bits set (write the masked form "10.0.0.0/8")`},
		{"deny-cidrs bare address in the file", "deny-cidrs: [203.0.113.7]\n", nil,
			`config: --deny-cidrs[0]: cidr "203.0.113.7" is an address, not a prefix (write "203.0.113.7/32")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "s.yaml", tt.file))
			}
			_, err := loadAmb(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestDenyCIDRs(t *testing.T) {
	want := []policy.DenyCIDR{
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Source: "--deny-cidrs[0]"},
		{Prefix: netip.MustParsePrefix("fd00::/8"), Source: "--deny-cidrs[1]"},
	}
	tests := []struct {
		name string
		env  string
		file string
		args []string
	}{
		{name: "flag", args: []string{"--deny-cidrs", "10.0.0.0/8,fd00::/8"}},
		{name: "flag repeated, with a space", args: []string{"--deny-cidrs", "10.0.0.0/8", "--deny-cidrs", " fd00::/8"}},
		{name: "environment", env: "10.0.0.0/8,fd00::/8"},
		{name: "file list", file: "deny-cidrs: [10.0.0.0/8, \"fd00::/8\"]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("MESHLITE_DENY_CIDRS", tt.env)
			}
			args := tt.args
			if tt.file != "" {
				args = append(args, "--config", writeFile(t, "s.yaml", tt.file))
			}
			cfg, err := loadAmb(t, args...)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cfg.DenyList()
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("DenyList() = %v, %v; want %v", got, err, want)
			}
		})
	}
	cfg, err := loadAmb(t)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cfg.DenyList(); err != nil || len(got) != 0 {
		t.Fatalf("default DenyList() = %v, %v; want empty", got, err)
	}
}

func TestCompatVariables(t *testing.T) {
	t.Setenv("Proxy__Port", "1081")
	t.Setenv("Proxy__Request__UriMap__Source", "http://localhost/api")
	t.Setenv("Proxy__Request__UriMap__Target", "http://numbers-api/sixeyed/kiamol/master/ch03/numbers/rng")
	t.Setenv("Proxy__Request__RejectUnknown", "false")
	cfg, err := loadAmb(t)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1081" {
		t.Errorf("Proxy__Port should set the listen port, got %q", cfg.Listen)
	}
	rt, err := cfg.Compat.Table()
	if err != nil {
		t.Fatal(err)
	}
	if rt.Spec.Mode != policy.Report {
		t.Errorf("RejectUnknown=false should mean report mode, got %q", rt.Spec.Mode)
	}
	if len(rt.Spec.Routes) != 1 || rt.Spec.Routes[0].Source != "http://localhost/api" {
		t.Errorf("routes = %+v", rt.Spec.Routes)
	}
	// an explicit --listen beats Proxy__Port
	if cfg, _ = loadAmb(t, "--listen", "127.0.0.1:5000"); cfg.Listen != "127.0.0.1:5000" {
		t.Errorf("--listen should beat Proxy__Port, got %q", cfg.Listen)
	}
}

func TestCompatInvalid(t *testing.T) {
	tests := []struct{ name, key, value, want string }{
		{"port not a number", "Proxy__Port", "http", `Proxy__Port: "http" is not a port`},
		{"port out of range", "Proxy__Port", "70000", "Proxy__Port"},
		{"source without target", "Proxy__Request__UriMap__Source", "http://localhost/api", "must be set together"},
		{"reject unknown not boolean", "Proxy__Request__RejectUnknown", "maybe", "is not a boolean"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			_, err := loadAmb(t)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckFile(t *testing.T) {
	good := writeFile(t, "ok.yaml", "listen: 127.0.0.1:1080\n")
	if problems := CheckFile(good); len(problems) != 0 {
		t.Fatalf("good settings: %v", problems)
	}
	bad := writeFile(t, "bad.yaml", "listen: nowhere\nfoo: 1\n")
	problems := CheckFile(bad)
	if len(problems) != 1 || !strings.Contains(problems[0], "bad.yaml: foo: unknown setting") {
		t.Fatalf("problems = %q", problems)
	}
	table := writeFile(t, "table.yaml", "apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: x}\nspec:\n  routes:\n    - {name: a, source: 'ftp://localhost/a', target: 'http://b/'}\n")
	problems = CheckFile(table)
	if len(problems) == 0 || !strings.Contains(problems[0], "table.yaml") || !strings.Contains(strings.Join(problems, "\n"), "spec.routes[0].source") {
		t.Fatalf("problems = %q", problems)
	}
}

// TestNamespace: --namespace defaults to POD_NAMESPACE (the downward API),
// an explicit value wins, an explicit empty one means none, and a value
// that is no namespace name is refused.
func TestNamespace(t *testing.T) {
	tests := []struct {
		name   string
		podNS  string
		args   []string
		want   string
		errSub string
	}{
		{name: "none", want: ""},
		{name: "from POD_NAMESPACE", podNS: "shop", want: "shop"},
		{name: "flag wins", podNS: "shop", args: []string{"--namespace", "blog"}, want: "blog"},
		{name: "explicit empty", podNS: "shop", args: []string{"--namespace="}, want: ""},
		{name: "not a namespace", args: []string{"--namespace", "Shop_1"}, errSub: `namespace: "Shop_1" is not a Kubernetes namespace name`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", tc.podNS)
			cfg, err := loadAmb(t, tc.args...)
			if tc.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.errSub)
				}
				return
			}
			if err != nil || cfg.Namespace != tc.want {
				t.Fatalf("namespace %q, err %v; want %q", cfg.Namespace, err, tc.want)
			}
		})
	}
}
