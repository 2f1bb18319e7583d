package upstream

import (
	"context"
	"errors"
	"net/netip"
	"testing"
)

// The cases of tunnel_test.go's TestDialTunnelFailures, for the Client
// (TestClientDialTunnel is the success case).
func TestClientDialTunnelFailures(t *testing.T) {
	dead1 := deadUpstreamAddr(t, 0)
	dead2 := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.3"), dead1.Port())
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		target   *Target
		wantAddr string // *DialError.Addr; "" for another error
		wantIs   error
	}{
		{"all addresses dead reports the last", context.Background(), targetFor("svc.test", Retry{}, dead1, dead2), dead2.String(), nil},
		{"no address", context.Background(), &Target{Host: "svc.test", Port: 443}, "svc.test", errNoAddress},
		{"canceled context", canceled, targetFor("svc.test", Retry{}, dead1), "", context.Canceled},
		{"no target", context.Background(), nil, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl := newTestClient(t, Options{})
			ctx, cancel := context.WithTimeout(tt.ctx, guard)
			defer cancel()
			conn, err := cl.DialTunnel(ctx, tt.target)
			if err == nil {
				conn.Close()
				t.Fatal("DialTunnel succeeded")
			}
			var de *DialError
			if tt.wantAddr != "" && (!errors.As(err, &de) || de.Addr != tt.wantAddr) {
				t.Errorf("err = %v, want *DialError for %s", err, tt.wantAddr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}
