package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func loadCP(t *testing.T, args []string, env map[string]string, file string) (ControlPlane, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	if file != "" {
		path := filepath.Join(t.TempDir(), "cp.yaml")
		if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	ControlPlaneFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return LoadControlPlane(fs)
}

func TestControlPlanePrecedence(t *testing.T) {
	cases := []struct {
		name      string
		args      []string
		env       map[string]string
		file      string
		wantXDS   string
		wantAdmin string
	}{
		{"defaults", nil, nil, "", ":18000", ":9902"},
		{"file over defaults", nil, nil, "xds: :1\nadmin: :2\n", ":1", ":2"},
		{"environment over file", nil, map[string]string{"MESHLITE_XDS": ":3"}, "xds: :1\nadmin: :2\n", ":3", ":2"},
		{"flag over environment", []string{"--xds", ":4"}, map[string]string{"MESHLITE_XDS": ":3"}, "xds: :1\n", ":4", ":9902"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadCP(t, tc.args, tc.env, tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.XDS != tc.wantXDS || cfg.Admin != tc.wantAdmin {
				t.Errorf("xds %q admin %q, want %q %q", cfg.XDS, cfg.Admin, tc.wantXDS, tc.wantAdmin)
			}
			if cfg.Debounce != 100*time.Millisecond || cfg.Routes != "/etc/meshlite/routes" {
				t.Errorf("defaults lost: %+v", cfg)
			}
		})
	}
}

func TestControlPlaneInvalidSettings(t *testing.T) {
	cases := []struct {
		name string
		args []string
		file string
		want string
	}{
		{"unknown file setting", nil, "xds: :1\nlisten: :2\n", "listen: unknown setting"},
		{"route table passed as config", nil, "kind: RouteTable\n", "pass it with --routes"},
		{"bad level", []string{"--log-level", "loud"}, "", "log-level"},
		{"bad address", []string{"--admin", "9902"}, "", "admin"},
		{"negative resync", []string{"--resync", "-1s"}, "", "resync"},
		{"zero streams", []string{"--max-streams", "0"}, "", "max-streams"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadCP(t, tc.args, nil, tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
