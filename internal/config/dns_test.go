package config

import "testing"

func TestDNSSettings(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		wantCache bool
		wantConf  string
	}{
		{"defaults", nil, true, "/etc/resolv.conf"},
		{"cache off", []string{"--dns-cache=false"}, false, "/etc/resolv.conf"},
		{"another resolv.conf", []string{"--resolv-conf", "/tmp/resolv.conf"}, true, "/tmp/resolv.conf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := loadAmb(t, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.DNSCache != tc.wantCache || cfg.ResolvConf != tc.wantConf {
				t.Fatalf("dns-cache %v resolv-conf %q, want %v %q", cfg.DNSCache, cfg.ResolvConf, tc.wantCache, tc.wantConf)
			}
		})
	}
}
