package propagation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestGenerationRoundTrip(t *testing.T) {
	cases := []struct {
		name   string
		target string
		want   int
	}{
		{"generated table", "http://w-00001-api.apps.svc.cluster.local/g17/v1", 17},
		{"generation zero", "http://w-00001-api.apps.svc.cluster.local/g0/v1", 0},
		{"host starting with g", "http://gateway/g3/v1", 3},
		{"no generation", "http://numbers-api/rng", -1},
		{"not a number", "http://numbers-api/gx/v1", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := generationOf(tc.target); got != tc.want {
				t.Errorf("generationOf(%q) = %d, want %d", tc.target, got, tc.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	cases := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(hundred...), 99, 99 * time.Millisecond},
		{"max", ms(1, 2, 3), 100, 3 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("percentile(p%.0f) = %s, want %s", tc.p, got, tc.want)
			}
		})
	}
}

// TestRunSmallFleet runs the whole benchmark with a few ambassadors
// against the real control plane binary.
func TestRunSmallFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the control plane")
	}
	binary, err := BuildControlPlane(filepath.Join("..", ".."), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	res, err := Run(context.Background(), Config{
		Clients: 12, PerWorkload: 3, Rounds: 2, ControlPlane: binary, WorkDir: work,
		Timeout: time.Minute, Settle: 150 * time.Millisecond, Batch: 5,
	})
	if err != nil {
		b, _ := os.ReadFile(filepath.Join(work, "controlplane.log"))
		t.Fatalf("Run: %v\ncontrol plane log:\n%s", err, b)
	}
	if res.Workloads != 4 || len(res.Scenarios) != 2 {
		t.Fatalf("result: %d workloads, %d scenarios", res.Workloads, len(res.Scenarios))
	}
	for _, s := range res.Scenarios {
		wantPerRound := map[string]int{ScenarioOne: 3, ScenarioAll: 12}[s.Name]
		if len(s.Rounds) != 2 || s.Updated != wantPerRound {
			t.Errorf("%s: %d rounds updating %d, want 2 rounds updating %d", s.Name, len(s.Rounds), s.Updated, wantPerRound)
		}
		for i, r := range s.Rounds {
			if len(r.Latencies) != wantPerRound || r.Latencies[0] <= 0 || r.Last < r.P50 {
				t.Errorf("%s round %d: %d latencies from %v, p50 %s, last %s", s.Name, i, len(r.Latencies), r.Latencies, r.P50, r.Last)
			}
		}
		if s.Extra != 0 {
			t.Errorf("%s: %d tables sent to ambassadors whose table did not change", s.Name, s.Extra)
		}
		if s.Max < s.P99 || s.P99 < s.P50 || s.P50 <= 0 {
			t.Errorf("%s: p50 %s p99 %s max %s out of order", s.Name, s.P50, s.P99, s.Max)
		}
	}
	if res.PeakRSSBytes <= 0 || res.Connect.RSSBytes <= 0 || res.Connect.RSSBytes > res.PeakRSSBytes {
		t.Errorf("memory: RSS %d, peak %d", res.Connect.RSSBytes, res.PeakRSSBytes)
	}
	if !strings.Contains(strings.Join(res.ControlPlaneFlags, " "), "--max-connections 1012") {
		t.Errorf("control plane flags %v do not raise the connection cap", res.ControlPlaneFlags)
	}

	var md strings.Builder
	(&Report{Date: time.Now(), Command: "test", Machine: ThisMachine(), Results: []*Result{res}}).WriteMarkdown(&md)
	for _, want := range []string{"| 12 | " + ScenarioOne + " | 3 | 2 |", "| 12 | " + ScenarioAll + " | 12 | 2 |", "3 ambassadors per workload"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, md.String())
		}
	}
}
