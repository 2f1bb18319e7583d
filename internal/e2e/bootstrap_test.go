package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"
)

func TestBeforeTheFirstTableFromTheControlPlane(t *testing.T) {
	cases := []struct {
		name string
		// static is the ambassador's --routes table; nil for none.
		static     func(port int, upstream string) string
		wantReady  int
		wantOrigin string // prefix; "file:" is followed by the path
		wantBody   string // what the door answers; "" when it is not open
		wantReason string // in /readyz and the config_dump's pending
	}{
		{
			name:       "no static table: not ready, with the reason",
			wantReady:  http.StatusServiceUnavailable,
			wantOrigin: "none",
			wantReason: `waiting for workload "numbers-web"'s table from the control plane`,
		},
		{
			name: "static table: ready and serving it until the first table arrives",
			static: func(port int, up string) string {
				return tableYAML(workload, route{"rng", port, up + "/rng"})
			},
			wantReady:  http.StatusOK,
			wantOrigin: "file:",
			wantBody:   "A",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := upstream(t, "A"), upstream(t, "B")
			p := testnet.FreePort(t)
			dir := t.TempDir()
			// The control plane has a table for another workload only.
			writeTable(t, dir, "shop", tableYAML("shop", route{"cart", 8080, "http://cart/"}))
			cp := startControlPlane(t, dir, "127.0.0.1:0")
			var static string
			if tc.static != nil {
				static = filepath.Join(t.TempDir(), "routes.yaml")
				if err := os.WriteFile(static, []byte(tc.static(p, a)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			amb := startAmbassador(t, cp.xds, workload, "numbers-web-1", static)

			code, body := get(amb.admin + "/readyz")
			if code != tc.wantReady || !strings.Contains(body, tc.wantReason) {
				t.Errorf("/readyz before the first table: %d %q, want %d containing %q", code, body, tc.wantReady, tc.wantReason)
			}
			d := amb.configDump(t)
			if !strings.HasPrefix(d.Origin, tc.wantOrigin) || !strings.Contains(d.Pending, tc.wantReason) {
				t.Errorf("config_dump before the first table: %+v, want origin %q and pending %q", d, tc.wantOrigin, tc.wantReason)
			}
			if tc.wantBody != "" && !answers(door(p), tc.wantBody) {
				t.Errorf("%s does not answer %q before the first table", door(p), tc.wantBody)
			}

			writeTable(t, dir, workload, tableYAML(workload, route{"rng", p, b + "/rng"}))
			eventually(t, "the table from the control plane served", func() bool { return answers(door(p), "B") })
			if code, body := get(amb.admin + "/readyz"); code != http.StatusOK {
				t.Errorf("/readyz after the first table: %d %q", code, body)
			}
			want := ""
			eventually(t, "the ambassador's ACK on the control plane", func() bool {
				a, ok := cp.ambassadorStatus(t, "numbers-web-1")
				want = cp.table(t, workload).Version
				return ok && a.InSync && a.LastACKedVersion == want
			})
			if d := amb.configDump(t); d.Origin != "xds:"+cp.xds || d.Version != want || d.Pending != "" {
				t.Errorf("config_dump after the first table: %+v, want origin xds:%s and version %s", d, cp.xds, want)
			}
		})
	}
}
