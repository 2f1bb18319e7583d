package config

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestWebhookSettings(t *testing.T) {
	all := []string{"--webhook", ":9443", "--webhook-cert", "/tls/tls.crt", "--webhook-key", "/tls/tls.key"}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string // "" = valid
	}{
		{"off by default", nil, nil, ""},
		{"all three", all, nil, ""},
		{"all three, the key from the environment", all[:4], map[string]string{"MESHLITE_WEBHOOK_KEY": "/tls/tls.key"}, ""},
		{"address without files", all[:2], nil, "config: webhook: --webhook, --webhook-cert and --webhook-key go together"},
		{"files without address", all[2:], nil, "go together"},
		{"bad address", append([]string{"--webhook", "9443"}, all[2:]...), nil, "config: webhook: \"9443\""},
		{"bad injected xds", []string{"--inject-xds", "controlplane"}, nil, "config: inject-xds:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadCP(t, tc.args, tc.env, "")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(tc.args) > 0 && (cfg.Webhook.Addr != ":9443" || cfg.Webhook.Key != "/tls/tls.key") {
					t.Errorf("webhook settings %+v", cfg.Webhook)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestLoadInject(t *testing.T) {
	fs := pflag.NewFlagSet("inject", pflag.ContinueOnError)
	InjectFlags(fs)
	t.Setenv("MESHLITE_INJECT_IMAGE", "registry.example/ambassador:v1")
	if err := fs.Parse([]string{"--inject-xds", "cp.mesh:18000", "--inject-xds-ca-configmap", "meshlite-xds-ca"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadInject(fs)
	if err != nil || cfg.Image != "registry.example/ambassador:v1" || cfg.XDS != "cp.mesh:18000" || cfg.XDSCAConfigMap != "meshlite-xds-ca" {
		t.Errorf("LoadInject = %+v, %v", cfg, err)
	}
}
