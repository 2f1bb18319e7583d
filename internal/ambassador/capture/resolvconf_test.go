package capture_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/ambassador/capture"
)

func TestReadResolvConf(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    []string
		wantErr string
	}{
		{"kubernetes pod", "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n", []string{"10.96.0.10"}, ""},
		{"both families, zone, comments",
			"# generated\nnameserver 192.0.2.53 # primary\n; nameserver 192.0.2.54\n  nameserver\tfd00::53\nnameserver fe80::1%eth0\n#nameserver 192.0.2.55\n",
			[]string{"192.0.2.53", "fd00::53", "fe80::1%eth0"}, ""},
		{"no nameserver lines", "search example.com\n", nil, ""},
		{"nameserver without address", "nameserver\n", nil, ""},
		{"not an address", "nameserver 10.0.0.1\nnameserver dns.example.com\n", nil, "resolv.conf:2: nameserver \"dns.example.com\" is not an IP address (fix the file or pass --dns)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := capture.ReadResolvConf(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, a := range got {
				s = append(s, a.String())
			}
			if !slices.Equal(s, tc.want) {
				t.Errorf("got %v, want %v", s, tc.want)
			}
		})
	}
}

func TestReadResolvConfMissingFileMeansNoResolvers(t *testing.T) {
	got, err := capture.ReadResolvConf(filepath.Join(t.TempDir(), "missing"))
	if err != nil || len(got) != 0 {
		t.Errorf("got %v, %v; want no resolvers and no error", got, err)
	}
}
