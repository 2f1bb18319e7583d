package routes

import "testing"

func TestLoopbackHost(t *testing.T) {
	tests := []struct {
		name, host, want string
		ok               bool
	}{
		{"localhost", "localhost", "localhost", true},
		{"upper case", "LocalHost", "localhost", true},
		{"trailing dot", "localhost.", "localhost", true},
		{"ipv4", "127.0.0.1", "127.0.0.1", true},
		{"ipv6 bare", "::1", "::1", true},
		{"ipv6 bracketed, as a Host header writes it", "[::1]", "::1", true},
		{"other name", "example.com", "", false},
		{"other loopback address", "127.0.0.2", "", false},
		{"localhost subdomain", "a.localhost", "", false},
		{"brackets around a name", "[localhost]", "", false},
		{"empty", "", "", false},
		{"kelvin sign is not k", "localhost\u212a", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := LoopbackHost(tt.host)
			if got != tt.want || ok != tt.ok {
				t.Errorf("LoopbackHost(%q) = %q, %v; want %q, %v", tt.host, got, ok, tt.want, tt.ok)
			}
		})
	}
}
