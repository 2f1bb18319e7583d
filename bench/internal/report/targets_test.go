package report

import (
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/bench/internal/load"
)

// targetRun is a run with the five rows the targets read: the ambassador
// meets every target by default.
func targetRun() Run {
	us := func(n int) time.Duration { return time.Duration(n) * time.Microsecond }
	row := func(name string, rps, cpuMax, cpuFixed float64, rss int64, p99 time.Duration) Row {
		return Row{
			Name:         name,
			Open:         load.Result{Requests: 1000, Scheduled: 1000, Latency: load.Percentiles{P50: us(100), P99: p99}},
			Fixed:        load.Result{Requests: 5000, Scheduled: 5000, Throughput: 5000, Latency: load.Percentiles{P50: us(150), P99: p99 * 2}},
			Closed:       load.Result{Requests: 50000, Throughput: rps},
			CPUPer1kOpen: cpuFixed * 2, CPUPer1kFixed: cpuFixed, CPUPer1kClosed: cpuMax,
			PeakRSSOpen: rss, PeakRSS: rss + 1<<20, LogLines: 1000, OtherCPU: 0.01,
		}
	}
	direct := row(directRow, 30000, -1, -1, 0, us(300))
	return Run{
		Name:     "targets",
		Settings: Settings{Rate: 1000, Connections: 16, Duration: time.Second, CPURate: 5000, CPUDuration: time.Second, BodyBytes: 1024},
		Rows: []Row{
			direct,
			row(LocalDoor, 16000, 0.040, 0.060, 12<<20, us(600)),   // added p99 0.3 ms
			row(ForwardDoor, 17500, 0.042, 0.062, 12<<20, us(650)), // 2.06× squid
			row(nginxRow, 15000, 0.041, 0.050, 12<<20, us(700)),    // added p99 0.4 ms
			row(squidRow, 8500, 0.110, 0.200, 25<<20, us(900)),
		},
	}
}

func rowNamed(r *Run, name string) *Row {
	for i := range r.Rows {
		if r.Rows[i].Name == name {
			return &r.Rows[i]
		}
	}
	panic(name)
}

func TestTargets(t *testing.T) {
	tests := []struct {
		name   string
		change func(r *Run)
		want   []string // Result of each of the six targets
		ratios []string // "" = not checked
		caveat string   // a caveat one of the targets must carry; "" = none anywhere
	}{
		{
			name:   "all met",
			change: func(*Run) {},
			want:   []string{Met, Met, Met, Met, Met, Met},
			ratios: []string{"1.07×", "2.06×", "0.98×", "1.20×", "0.60×", "0.75×"},
		},
		{
			name: "all missed",
			change: func(r *Run) {
				m := rowNamed(r, LocalDoor)
				m.Closed.Throughput, m.CPUPer1kClosed, m.CPUPer1kFixed = 9000, 0.072, 0.07
				m.PeakRSSOpen, m.Open.Latency.P99 = 21<<20, 1200*time.Microsecond
				rowNamed(r, ForwardDoor).Closed.Throughput = 16999
			},
			want:   []string{NotMet, NotMet, NotMet, NotMet, NotMet, NotMet},
			ratios: []string{"0.60×", "2.00×", "1.76×", "1.40×", "1.05×", "2.25×"},
		},
		{
			name: "exact factor is met",
			change: func(r *Run) {
				rowNamed(r, ForwardDoor).Closed.Throughput = 17000
				rowNamed(r, LocalDoor).CPUPer1kFixed = 0.0625
				rowNamed(r, LocalDoor).PeakRSSOpen = RSSLimit
			},
			want:   []string{Met, Met, Met, Met, Met, Met},
			ratios: []string{"", "2.00×", "", "1.25×", "1.00×", ""},
		},
		{
			name:   "local door skipped",
			change: func(r *Run) { rowNamed(r, LocalDoor).Skipped = "cannot build" },
			want:   []string{NotMeasured, Met, NotMeasured, NotMeasured, NotMeasured, NotMeasured},
		},
		{
			name: "squid absent, no fixed-rate run, no direct row",
			change: func(r *Run) {
				r.Settings.CPURate = 0
				r.Rows = r.Rows[1:4]
			},
			want: []string{Met, NotMeasured, Met, NotMeasured, Met, NotMeasured},
		},
		{
			name:   "noisy nginx",
			change: func(r *Run) { rowNamed(r, nginxRow).OtherCPU = 0.2 },
			want:   []string{Met, Met, Met, Met, Met, Met},
			caveat: "nginx noisy (other CPU 20%)",
		},
		{
			name: "fixed schedule not kept",
			change: func(r *Run) {
				m := rowNamed(r, LocalDoor)
				m.Fixed.Requests, m.Fixed.Errors = 4000, 3
			},
			want:   []string{Met, Met, Met, Met, Met, Met},
			caveat: "meshlite-mapping: at 5000 req/s schedule not kept (4000 of 5000 sent)",
		},
		{
			name:   "fixed rate above max req/s",
			change: func(r *Run) { rowNamed(r, nginxRow).Closed.Throughput = 4000 },
			want:   []string{Met, Met, Met, Met, Met, Met},
			caveat: "nginx: max req/s 4000 ≤ the fixed rate (saturated there)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := targetRun()
			tt.change(&r)
			got := r.Targets()
			if len(got) != len(tt.want) {
				t.Fatalf("%d targets, want %d", len(got), len(tt.want))
			}
			var caveats []string
			for i, g := range got {
				if g.Result != tt.want[i] {
					t.Errorf("%s: %s (%s against %s, %s), want %s", g.Target, g.Result, g.Ours, g.Theirs, g.Ratio, tt.want[i])
				}
				if tt.ratios != nil && tt.ratios[i] != "" && g.Ratio != tt.ratios[i] {
					t.Errorf("%s: ratio %s, want %s", g.Target, g.Ratio, tt.ratios[i])
				}
				if g.Result == NotMeasured && !strings.Contains(g.Ours+g.Theirs, NotMeasured) {
					t.Errorf("%s: not measured but neither figure says so: %q, %q", g.Target, g.Ours, g.Theirs)
				}
				if g.Caveats != "" {
					caveats = append(caveats, g.Caveats)
				}
			}
			all := strings.Join(caveats, " | ")
			if tt.caveat == "" && all != "" {
				t.Errorf("caveats %q, want none", all)
			}
			if !strings.Contains(all, tt.caveat) {
				t.Errorf("caveats %q lack %q", all, tt.caveat)
			}
		})
	}
}

func TestMarkdownFixedRateAndTargets(t *testing.T) {
	r := targetRun()
	rowNamed(&r, LocalDoor).Closed.Throughput = 9000
	r.Rows = append(r.Rows, Row{Name: "haproxy", Skipped: "not installed"})
	r.FillAdded(directRow)
	md := r.Markdown(nil)
	for _, want := range []string{
		"  - fixed rate: open loop at 5000 req/s, 16 connections, 1s after the closed-loop run",
		"## CPU per request at a fixed rate of 5000 req/s",
		"| contender | proxy CPU s / 1k req (at 1000 req/s) | proxy CPU s / 1k req (at 5000 req/s) | proxy CPU s / 1k req (max load) | proxy busy (at 5000 req/s) |",
		"| nginx | 0.100 | 0.050 | 0.041 | 25% | 0.150 | 1.400 | 0 / 5000 / 5000 |",
		"| direct | – | – | – | – | 0.150 | 0.600 | 0 / 5000 / 5000 |",
		"| haproxy | skipped |",
		"## Targets",
		"| local door max req/s ≥ 1.0× nginx | meshlite-mapping: 9000 req/s | nginx: 15000 req/s | 0.60× | **not met** |",
		"| CPU per request at 5000 req/s ≤ 1.25× nginx | meshlite-mapping: 0.060 CPU s / 1k req | nginx: 0.050 CPU s / 1k req | 1.20× | **met** |",
		"| peak RSS at 1000 req/s ≤ 20 MiB | meshlite-mapping: 12.0 MiB | limit: 20.0 MiB | 0.60× | **met** |",
		"| added p99 at 1000 req/s ≤ nginx's | meshlite-mapping: +0.300 ms | nginx: +0.400 ms | 0.75× | **met** |",
		"*at N req/s (fixed rate)*",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
	// A mapping row with a rate at or above its max req/s is marked.
	rowNamed(&r, nginxRow).Closed.Throughput = 5000
	if md := r.Markdown(nil); !strings.Contains(md, "| 0 / 5000 / 5000 (rate ≥ max req/s) |") {
		t.Errorf("saturated fixed-rate row not marked\n%s", md)
	}
}

// TestMarkdownWithoutFixedRate renders a run made before the fixed-rate
// phase existed (or with -cpu-rate 0): no such table, and the fixed-rate
// target is not measured.
func TestMarkdownWithoutFixedRate(t *testing.T) {
	r := sampleRun()
	md := r.Markdown(nil)
	if strings.Contains(md, "## CPU per request at a fixed rate") || strings.Contains(md, "fixed rate: open loop") {
		t.Errorf("fixed-rate table shown for a run without that phase\n%s", md)
	}
	if !strings.Contains(md, "| CPU per request at the fixed rate ≤ 1.25× nginx | meshlite-mapping: not measured (skipped) | nginx: not measured (no fixed-rate run) | – | not measured |") {
		t.Errorf("fixed-rate target not reported as not measured\n%s", md)
	}
}

func TestWriteWithFixedRate(t *testing.T) {
	r := targetRun()
	r.FillAdded(directRow)
	files, err := r.Write(t.TempDir())
	if err != nil || len(files) != 4 {
		t.Fatalf("Write = %v, %v", files, err)
	}
	back, err := Load(files[0])
	if err != nil {
		t.Fatal(err)
	}
	m := rowNamed(&back, LocalDoor)
	if back.Settings.CPURate != 5000 || m.CPUPer1kFixed != 0.060 || m.Fixed.Scheduled != 5000 {
		t.Fatalf("fixed-rate figures do not round-trip: rate %d, cpu %v, scheduled %d", back.Settings.CPURate, m.CPUPer1kFixed, m.Fixed.Scheduled)
	}
}
