package proxy

import "testing"

func TestLocalHostReadsTheHostHeader(t *testing.T) {
	tests := []struct{ name, header, want string }{
		{"localhost with port", "localhost:8080", "localhost"},
		{"localhost without port", "localhost", "localhost"},
		{"upper case", "LOCALHOST:8080", "localhost"},
		{"ipv4 loopback", "127.0.0.1:8080", "127.0.0.1"},
		{"ipv6 loopback with port", "[::1]:8080", "::1"},
		{"ipv6 loopback without port", "[::1]", "::1"},
		{"another name is read as localhost", "example.com:8080", "localhost"},
		{"empty", "", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := localHost(tt.header); got != tt.want {
				t.Errorf("localHost(%q) = %q, want %q", tt.header, got, tt.want)
			}
		})
	}
}
