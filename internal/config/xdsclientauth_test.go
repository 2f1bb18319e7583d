package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestXDSClientIdentity(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "plaintext", args: []string{"--xds", "cp:18000", "--workload", "web"}},
		{name: "TLS with a token", args: []string{"--xds", "cp:18000", "--workload", "web", "--xds-ca", "/ca", "--xds-token", "/t"}},
		{name: "mutual TLS", args: []string{"--xds", "cp:18000", "--workload", "web", "--xds-ca", "/ca", "--xds-cert", "/c", "--xds-key", "/k", "--xds-server-name", "cp.example"}},
		{name: "token without TLS", args: []string{"--xds", "cp:18000", "--workload", "web", "--xds-token", "/t"}, wantErr: "config: xds-ca: required with"},
		{name: "cert without key", args: []string{"--xds", "cp:18000", "--workload", "web", "--xds-ca", "/ca", "--xds-cert", "/c"}, wantErr: "config: xds-cert: --xds-cert and --xds-key go together"},
		{name: "identity without xds", args: []string{"--xds-ca", "/ca"}, wantErr: "config: xds-ca: the xDS identity flags need --xds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("POD_NAMESPACE", "")
			fs := pflag.NewFlagSet("ambassador", pflag.ContinueOnError)
			AmbassadorFlags(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadAmbassador(fs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.XDSClientIdentity.CA != flagValue(fs, "xds-ca") || cfg.XDSClientIdentity.Token != flagValue(fs, "xds-token") {
				t.Fatalf("identity settings not loaded: %+v", cfg.XDSClientIdentity)
			}
		})
	}
}

func flagValue(fs *pflag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }
