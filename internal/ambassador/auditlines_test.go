package ambassador

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	auditv1 "github.com/meshlite/meshlite/api/audit/v1"
	"github.com/meshlite/meshlite/internal/ambassador/audit/schematest"
	"github.com/meshlite/meshlite/internal/config"
)

func TestNodeIDFallsBackLikeTheXDSClient(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("no host name to fall back to: %q %v", host, err)
	}
	tests := []struct {
		name, flag, pod, want string
	}{
		{"the flag wins", "node-a", "pod-a", "node-a"},
		{"then POD_NAME", "", "pod-a", "pod-a"},
		{"then the host name", "", "", host},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAME", tt.pod)
			if got := nodeID(config.Ambassador{NodeID: tt.flag}); got != tt.want {
				t.Errorf("nodeID = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAuditLinesSayWhoseTheyAre runs the ambassador and checks that every
// line of an allowed, a denied and a tunnel request names the workload and
// the node, and conforms to the published schema.
func TestAuditLinesSayWhoseTheyAre(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "7") }))
	defer up.Close()
	named := strings.ReplaceAll(table, "UPSTREAM", strings.TrimPrefix(up.URL, "http://"))
	tests := []struct {
		name, table, workloadFlag, nodeFlag, pod string
		wantWorkload, wantNode                   string
	}{
		{"the table's name and --node-id", named, "", "numbers-web-0", "ignored", "numbers-web", "numbers-web-0"},
		{"--workload over the table's name, POD_NAME", named, "numbers-canary", "", "numbers-web-7d9f8", "numbers-canary", "numbers-web-7d9f8"},
		{"no table names no workload", "", "", "solo", "", "", "solo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAME", tt.pod)
			cfg, door := testConfig(t, tt.table)
			cfg.Workload, cfg.NodeID = tt.workloadFlag, tt.nodeFlag
			r := startChecked(t, cfg, door)
			n := 2
			sendRaw(t, r.forward(), get("http://example.invalid/"))
			sendRaw(t, r.forward(), connect("example.invalid:443"))
			if tt.table != "" {
				sendRaw(t, r.local(), get("/api"))
				n++
			}
			lines := auditLines(t, r, n)
			if len(lines) != n {
				t.Fatalf("%d audit lines, want %d:\n%s", len(lines), n, r.stdout.String())
			}
			for i, l := range lines {
				if l["workload"] != tt.wantWorkload || l["node_id"] != tt.wantNode {
					t.Errorf("line %d: workload %q node_id %q, want %q and %q", i, l["workload"], l["node_id"], tt.wantWorkload, tt.wantNode)
				}
			}
			for _, raw := range strings.Split(strings.TrimSuffix(r.stdout.String(), "\n"), "\n") {
				if err := schematest.Validate(auditv1.Schema, []byte(raw)); err != nil {
					t.Errorf("line breaks the schema: %v\n%s", err, raw)
				}
			}
		})
	}
}
