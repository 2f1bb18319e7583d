package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meshlite/meshlite/bench/internal/load"
)

func sampleRun() Run {
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	row := func(name string, base float64, rps float64) Row {
		return Row{
			Name: name, Description: name + " setup",
			Open: load.Result{Requests: 1000, Scheduled: 1000, Latency: load.Percentiles{
				P50: ms(base), P90: ms(2 * base), P99: ms(4 * base), P999: ms(8 * base), Max: ms(9 * base)}},
			Closed:       load.Result{Requests: 5000, Throughput: rps},
			CPUPer1kOpen: 0.05, CPUPer1kClosed: 0.04, PeakRSSOpen: 11 << 20, PeakRSS: 12 << 20, LogLines: 6000, OtherCPU: 0.012,
		}
	}
	direct := row("direct", 0.5, 20000)
	direct.CPUPer1kOpen, direct.CPUPer1kClosed, direct.PeakRSSOpen, direct.PeakRSS, direct.LogLines = -1, -1, 0, 0, -1
	return Run{
		Name: "unit", Date: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), Command: "make -C bench bench-quick",
		Machine:  Machine{NProc: 2, CPUModel: "Test CPU", Kernel: "6.0", GoVersion: "go1.26"},
		Settings: Settings{Rate: 1000, Connections: 16, Duration: 5 * time.Second, Warmup: time.Second, BodyBytes: 1024},
		Versions: map[string]string{"nginx": "nginx/1.22.1"},
		Rows: []Row{direct, row("nginx", 0.75, 9000),
			{Name: "meshlite-mapping", Description: "ambassador", Skipped: "cannot build the ambassador binary"}},
	}
}

func TestFillAdded(t *testing.T) {
	r := sampleRun()
	r.FillAdded("direct")
	want := load.Percentiles{P50: 250 * time.Microsecond, P90: 500 * time.Microsecond, P99: time.Millisecond,
		P999: 2 * time.Millisecond, Max: 2250 * time.Microsecond}
	if got := r.Rows[1].Added; got != want {
		t.Fatalf("nginx added = %+v, want %+v", got, want)
	}
	if got := r.Rows[0].Added; got != (load.Percentiles{}) {
		t.Fatalf("direct added = %+v, want zero", got)
	}
}

func TestMarkdown(t *testing.T) {
	r := sampleRun()
	r.FillAdded("direct")
	md := r.Markdown([]string{"/x/unit-latency.png"})
	for _, want := range []string{
		"2 CPUs (nproc), Test CPU",
		"`make -C bench bench-quick`",
		"| nginx | 0.750 | 1.500 | 3.000 | 6.000 | +0.250 | +0.500 | +1.000 | +2.000 | 0 / 1000 / 1000 |",
		"| nginx | 9000 | 0.040 | 36% | 0.050 | 11.0 | 12.0 | 6000 | 0 / 5000 | 1% |",
		"| direct | 20000 | – | – | – | – | – |",
		"| meshlite-mapping | skipped |",
		"**Skipped:** cannot build the ambassador binary",
		"(nginx/1.22.1)",
		"![unit-latency.png](unit-latency.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q\n%s", want, md)
		}
	}
}

func TestNoisyWarning(t *testing.T) {
	tests := []struct {
		name        string
		other       float64
		wantWarning bool
	}{
		{name: "quiet machine", other: 0.01, wantWarning: false},
		{name: "unknown", other: -1, wantWarning: false},
		{name: "busy machine", other: 0.30, wantWarning: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sampleRun()
			r.Rows[1].OtherCPU = tt.other
			md := r.Markdown(nil)
			if got := strings.Contains(md, "while measuring nginx"); got != tt.wantWarning {
				t.Fatalf("warning shown = %v, want %v\n%s", got, tt.wantWarning, md)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	r := sampleRun()
	r.FillAdded("direct")
	dir := t.TempDir()
	files, err := r.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"unit.json", "unit.md", "unit-latency.png", "unit-throughput-cpu.png"}
	if len(files) != len(want) {
		t.Fatalf("files = %v, want %v", files, want)
	}
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil || filepath.Base(f) != want[i] || st.Size() == 0 {
			t.Fatalf("file %d = %s (%v), want non-empty %s", i, f, err, want[i])
		}
	}
	back, err := Load(files[0])
	if err != nil || len(back.Rows) != 3 || back.Rows[1].Closed.Throughput != 9000 {
		t.Fatalf("JSON does not round-trip: %v %+v", err, back.Rows)
	}
	png, _ := os.ReadFile(files[2])
	if !strings.HasPrefix(string(png), "\x89PNG") {
		t.Fatal("latency chart is not a PNG")
	}
}
