package e2e

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/meshlite/meshlite/internal/testnet"

	"github.com/meshlite/meshlite/internal/controlplane/source"
)

const workload = "numbers-web"

// mesh is one control plane over a temporary directory and one ambassador
// of workload subscribed to it.
type mesh struct {
	dir string
	cp  *cpInstance
	amb *ambInstance
}

// startMesh writes workload's table with routes, starts a control plane
// and an ambassador, and waits until the ambassador has the table.
func startMesh(t *testing.T, routes ...route) *mesh {
	t.Helper()
	m := &mesh{dir: t.TempDir()}
	writeTable(t, m.dir, workload, tableYAML(workload, routes...))
	m.cp = startControlPlane(t, m.dir, "127.0.0.1:0")
	m.amb = startAmbassador(t, m.cp.xds, workload, "numbers-web-1", "")
	m.waitInSync(t)
	return m
}

// waitInSync waits until the ambassador serves the version the control
// plane has for workload and the control plane has seen its ACK, and
// returns that version.
func (m *mesh) waitInSync(t *testing.T) string {
	t.Helper()
	var want string
	eventually(t, "the ambassador in sync with the control plane", func() bool {
		want = m.cp.table(t, workload).Version
		a, ok := m.cp.ambassadorStatus(t, "numbers-web-1")
		return want != "" && m.amb.configDump(t).Version == want && ok && a.InSync && a.LastACKedVersion == want
	})
	return want
}

func TestFileEditReachesTheAmbassador(t *testing.T) {
	a, b := upstream(t, "A"), upstream(t, "B")
	p1, p2 := testnet.FreePort(t), testnet.FreePort(t)
	m := startMesh(t, route{"rng", p1, a + "/rng"})
	first := m.waitInSync(t)
	if !answers(door(p1), "A") {
		t.Fatalf("before any edit, %s does not answer A", door(p1))
	}
	steps := []struct {
		name   string
		routes []route
		check  func() bool
	}{
		{"target switches from upstream A to upstream B",
			[]route{{"rng", p1, b + "/rng"}},
			func() bool { return answers(door(p1), "B") }},
		{"a new route opens its local door",
			[]route{{"rng", p1, b + "/rng"}, {"extra", p2, a + "/x"}},
			func() bool { return answers(door(p2), "A") && answers(door(p1), "B") }},
		{"a removed route closes its local door",
			[]route{{"extra", p2, a + "/x"}},
			func() bool { return refused(p1) && answers(door(p2), "A") }},
	}
	seen := map[string]bool{first: true}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			writeTable(t, m.dir, workload, tableYAML(workload, step.routes...))
			eventually(t, step.name, step.check)
			v := m.waitInSync(t)
			if seen[v] {
				t.Errorf("version %s after the edit was already served before it", v)
			}
			seen[v] = true
			if d := m.amb.configDump(t); d.Origin != "xds:"+m.cp.xds || d.Table == nil || d.Table.Metadata.Name != workload {
				t.Errorf("config_dump: origin %q, table %+v; want origin xds:%s and table %s", d.Origin, d.Table, m.cp.xds, workload)
			}
		})
	}
}

func TestInvalidFileIsRejectedAndTheOldTableKeepsServing(t *testing.T) {
	cases := []struct {
		name      string
		content   string
		wantError string
	}{
		{"unsupported target scheme", tableYAML(workload, route{"rng", 1, "ftp://numbers-api/rng"}), "spec.routes[0].target"},
		{"unknown field", tableYAML(workload) + "    - name: x\n      sauce: http://localhost/x\n", "sauce"},
		{"not YAML", "apiVersion: meshlite/v1\nkind: RouteTable\nmetadata: {name: " + workload + "\n", "invalid YAML"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := testnet.FreePort(t)
			m := startMesh(t, route{"rng", p, upstream(t, "A") + "/rng"})
			good := m.waitInSync(t)

			writeTable(t, m.dir, workload, tc.content)
			var ts source.TableStatus
			eventually(t, "the error on the control plane's /status", func() bool {
				for _, st := range m.cp.status(t).Tables {
					if strings.Contains(st.LastError, tc.wantError) {
						ts = st
						return true
					}
				}
				return false
			})
			if !strings.HasSuffix(ts.File, workload+".yaml") {
				t.Errorf("/status names file %q for the error, want %s.yaml", ts.File, workload)
			}
			if ts.Version != "" && ts.Version != good {
				t.Errorf("/status serves version %s, want the last good %s", ts.Version, good)
			}
			if got := m.cp.table(t, workload).Version; got != good {
				t.Errorf("/status for %s: version %q, want the last good %s", workload, got, good)
			}
			for i := range 20 {
				if code, body := get(door(p)); code != http.StatusOK || body != "A" {
					t.Fatalf("request %d after the invalid edit: %d %q", i, code, body)
				}
			}
			if d := m.amb.configDump(t); d.Version != good {
				t.Errorf("the ambassador serves version %s, want the last good %s", d.Version, good)
			}
		})
	}
}

func TestTableTheAmbassadorRejectsIsNACKed(t *testing.T) {
	busy := testnet.Listen(t)
	busyPort := busy.Addr().(*net.TCPAddr).Port
	a, b := upstream(t, "A"), upstream(t, "B")
	p := testnet.FreePort(t)
	m := startMesh(t, route{"rng", p, a + "/rng"})
	good := m.waitInSync(t)

	// Valid for the control plane, but the ambassador cannot open the door.
	writeTable(t, m.dir, workload, tableYAML(workload, route{"rng", p, a + "/rng"}, route{"busy", busyPort, b + "/x"}))
	var bad string
	eventually(t, "the control plane serving the new table", func() bool {
		bad = m.cp.table(t, workload).Version
		return bad != good && bad != ""
	})
	if e := m.cp.table(t, workload).LastError; e != "" {
		t.Fatalf("the control plane rejected a valid table: %s", e)
	}
	eventually(t, "the NACK on the control plane's /status", func() bool {
		s, ok := m.cp.ambassadorStatus(t, "numbers-web-1")
		return ok && s.LastNACK != ""
	})
	s, _ := m.cp.ambassadorStatus(t, "numbers-web-1")
	want := "cannot open door on 127.0.0.1:" + strconv.Itoa(busyPort)
	if !strings.Contains(s.LastNACK, want) || s.LastNACKVersion != bad || s.LastACKedVersion != good || s.InSync || s.NACKs < 1 {
		t.Errorf("ambassador on /status: %+v\nwant lastNack containing %q for version %s, last ACK %s, not in sync", s, want, bad, good)
	}
	for i := range 20 {
		if code, body := get(door(p)); code != http.StatusOK || body != "A" {
			t.Fatalf("request %d after the NACK: %d %q", i, code, body)
		}
	}
	if d := m.amb.configDump(t); d.Version != good {
		t.Errorf("the ambassador serves version %s after the NACK, want %s", d.Version, good)
	}
	if got := m.amb.metric("meshlite_xds_nacks_total"); got == "" || got == "0" {
		t.Errorf("meshlite_xds_nacks_total = %q, want at least 1", got)
	}

	// A fixed table is accepted again.
	writeTable(t, m.dir, workload, tableYAML(workload, route{"rng", p, b + "/rng"}))
	eventually(t, "the fixed table served", func() bool { return answers(door(p), "B") })
	if v := m.waitInSync(t); v == good || v == bad {
		t.Errorf("version after the fix %s, want a new one", v)
	}
}
