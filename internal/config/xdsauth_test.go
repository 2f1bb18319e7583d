package config

import (
	"strings"
	"testing"
)

func TestXDSIdentity(t *testing.T) {
	tls := []string{"--xds-cert", "/tls/tls.crt", "--xds-key", "/tls/tls.key"}
	kube := []string{"--source", "kubernetes"}
	tests := []struct {
		name             string
		args             []string
		required, tokens bool
		wantErr          string
	}{
		{name: "directory, plaintext, as before"},
		{name: "directory over TLS", args: tls},
		{name: "directory with mutual TLS", args: append(tls, "--xds-client-ca", "/ca.crt")},
		{name: "directory with token review", args: append(tls, "--xds-token-review"), tokens: true},
		{name: "kubernetes over TLS reviews tokens and requires identity", args: append(kube, tls...), required: true, tokens: true},
		{name: "kubernetes insecure", args: append(kube, "--xds-insecure")},
		{name: "kubernetes without TLS", args: kube,
			wantErr: "config: xds-cert: --source kubernetes serves each ambassador only its own namespace's tables, which needs TLS"},
		{name: "certificate without key", args: []string{"--xds-cert", "/c"}, wantErr: "config: xds-cert: --xds-cert and --xds-key go together"},
		{name: "client CA without TLS", args: []string{"--xds-client-ca", "/ca"}, wantErr: "config: xds-client-ca: client certificates need TLS"},
		{name: "token review without TLS", args: []string{"--xds-token-review"}, wantErr: "config: xds-token-review: tokens must not cross plaintext"},
		{name: "empty audience", args: append(tls, "--xds-token-review", "--xds-token-audience", ""), wantErr: "config: xds-token-audience: must not be empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadCP(t, tc.args, map[string]string{"POD_NAMESPACE": ""}, "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.IdentityRequired() != tc.required || cfg.TokensReviewed() != tc.tokens {
				t.Fatalf("identity required %v, tokens reviewed %v; want %v, %v", cfg.IdentityRequired(), cfg.TokensReviewed(), tc.required, tc.tokens)
			}
		})
	}
}
