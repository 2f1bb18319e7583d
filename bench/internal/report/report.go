// Package report turns measured runs into the committed results: a markdown
// table, the raw JSON and charts.
package report

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/meshlite/meshlite/bench/internal/load"
)

// Run is everything one invocation of the harness measured.
type Run struct {
	Name     string            `json:"name"`
	Date     time.Time         `json:"date"`
	Command  string            `json:"command"`
	Machine  Machine           `json:"machine"`
	Settings Settings          `json:"settings"`
	Versions map[string]string `json:"versions"`
	Rows     []Row             `json:"rows"`
}

// Machine describes where the run happened.
type Machine struct {
	NProc     int    `json:"nproc"`
	CPUModel  string `json:"cpu_model"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Pinning   string `json:"pinning"`
	// LoadAvg is /proc/loadavg's 1-minute figure before and after the run:
	// anything else busy on the machine shows up in the numbers.
	LoadAvgBefore string `json:"loadavg_before"`
	LoadAvgAfter  string `json:"loadavg_after"`
}

// NoisyShare is the share of the machine used by other work above which a
// row's numbers are flagged as noisy.
const NoisyShare = 0.05

// noisy names the rows measured while other work used the machine.
func (r *Run) noisy() []string {
	var names []string
	for _, row := range r.Rows {
		if row.Skipped == "" && row.OtherCPU > NoisyShare {
			names = append(names, row.Name)
		}
	}
	return names
}

// Settings are the load parameters shared by every contender.
type Settings struct {
	Rate        int           `json:"open_loop_rate_rps"`
	Connections int           `json:"connections"`
	Duration    time.Duration `json:"duration_ns"`
	Warmup      time.Duration `json:"warmup_ns"`
	BodyBytes   int           `json:"body_bytes"`
	// CPURate is the fixed open-loop rate of the run that measures CPU per
	// request below saturation, CPUDuration its length; 0 = not run.
	CPURate     int           `json:"fixed_rate_rps,omitempty"`
	CPUDuration time.Duration `json:"fixed_rate_duration_ns,omitempty"`
}

// Row is one contender's measurements.
type Row struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Skipped says why the contender was not measured; "" = measured.
	Skipped string      `json:"skipped,omitempty"`
	Open    load.Result `json:"open_loop"`
	Closed  load.Result `json:"closed_loop"`
	// Added is Open.Latency minus the direct row's, per percentile.
	Added load.Percentiles `json:"added_latency"`
	// CPU seconds used by the proxy's process tree per 1,000 requests;
	// negative = not applicable (no proxy process).
	CPUPer1kOpen   float64 `json:"cpu_s_per_1k_open"`
	CPUPer1kClosed float64 `json:"cpu_s_per_1k_closed"`
	// Fixed is the open-loop run at Settings.CPURate and CPUPer1kFixed the
	// proxy's CPU seconds per 1,000 requests during it (negative = n/a);
	// meaningful only when Settings.CPURate > 0 and Fixed.Scheduled > 0.
	Fixed         load.Result `json:"fixed_rate"`
	CPUPer1kFixed float64     `json:"cpu_s_per_1k_fixed"`
	// Peak resident set size of the process tree (sum of VmHWM) in bytes,
	// read after the open-loop run (start-up, warm-up and the run at the
	// open-loop rate) and after the closed-loop run; 0 = n/a.
	PeakRSSOpen int64 `json:"peak_rss_open_bytes"`
	PeakRSS     int64 `json:"peak_rss_bytes"`
	LogLines    int   `json:"log_lines"` // lines in its access/audit log; -1 = none
	// OtherCPU is the share of the machine's CPU capacity that processes
	// outside the benchmark used during the measured runs; -1 = unknown.
	OtherCPU float64 `json:"other_cpu_share"`
}

// FillAdded sets Added on every measured row against the row named base.
func (r *Run) FillAdded(base string) {
	var floor *load.Percentiles
	for i := range r.Rows {
		if r.Rows[i].Name == base && r.Rows[i].Skipped == "" {
			floor = &r.Rows[i].Open.Latency
		}
	}
	if floor == nil {
		return
	}
	for i := range r.Rows {
		row := &r.Rows[i]
		if row.Skipped != "" {
			continue
		}
		l := row.Open.Latency
		row.Added = load.Percentiles{
			P50: l.P50 - floor.P50, P90: l.P90 - floor.P90, P99: l.P99 - floor.P99,
			P999: l.P999 - floor.P999, Max: l.Max - floor.Max,
		}
	}
}

// Load reads a run written by Write (its JSON), to render it again.
func Load(path string) (Run, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Run{}, fmt.Errorf("report: %w", err)
	}
	var r Run
	if err := json.Unmarshal(raw, &r); err != nil {
		return Run{}, fmt.Errorf("report: %s: %w", path, err)
	}
	return r, nil
}

// Write stores <dir>/<name>.md, <name>.json and the charts.
func (r *Run) Write(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: json: %w", err)
	}
	base := filepath.Join(dir, r.Name)
	files := []string{base + ".json", base + ".md"}
	if err := os.WriteFile(files[0], append(raw, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	charts, err := r.writeCharts(dir)
	if err != nil {
		return nil, err
	}
	files = append(files, charts...)
	if err := os.WriteFile(files[1], []byte(r.Markdown(charts)), 0o644); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return files, nil
}

// Markdown renders the results page; charts are linked by base name.
func (r *Run) Markdown(charts []string) string {
	var b strings.Builder
	s := r.Settings
	fmt.Fprintf(&b, "# meshlite ambassador benchmark: %s\n\n", r.Name)
	fmt.Fprintf(&b, "- date: %s\n", r.Date.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- machine: %d CPUs (nproc), %s, Linux %s, %s\n", r.Machine.NProc, r.Machine.CPUModel, r.Machine.Kernel, r.Machine.GoVersion)
	fmt.Fprintf(&b, "- pinning: %s\n", r.Machine.Pinning)
	if r.Machine.LoadAvgBefore != "" {
		fmt.Fprintf(&b, "- load average (1 min) before / after: %s / %s\n", r.Machine.LoadAvgBefore, r.Machine.LoadAvgAfter)
	}
	if noisy := r.noisy(); len(noisy) > 0 {
		fmt.Fprintf(&b, "- **warning: other work used more than %.0f%% of the machine while measuring %s: those rows are noisy** (see *other CPU*)\n",
			NoisyShare*100, strings.Join(noisy, ", "))
	}
	fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	fmt.Fprintf(&b, "- load: vegeta v12.13.0 library; every contender does the same job: GET → upstream answering %d bytes\n", s.BodyBytes)
	fmt.Fprintf(&b, "  - open loop: %d req/s, %d connections, %s after a %s warm-up; latency measured from each request's intended send time (no coordinated omission)\n", s.Rate, s.Connections, s.Duration, s.Warmup)
	fmt.Fprintf(&b, "  - closed loop: %d workers on %d connections, each sending as soon as its previous answer arrived, %s → max req/s\n", s.Connections, s.Connections, s.Duration)
	if s.CPURate > 0 {
		fmt.Fprintf(&b, "  - fixed rate: open loop at %d req/s, %d connections, %s after the closed-loop run → proxy CPU per request below saturation\n", s.CPURate, s.Connections, s.CPUDuration)
	}
	b.WriteString("\n")

	fmt.Fprintf(&b, "## Latency at %d req/s (ms)\n\n", s.Rate)
	b.WriteString("| contender | p50 | p90 | p99 | p99.9 | added p50 | added p90 | added p99 | added p99.9 | errors / sent / scheduled |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, row := range r.Rows {
		if row.Skipped != "" {
			fmt.Fprintf(&b, "| %s | skipped | | | | | | | | |\n", row.Name)
			continue
		}
		l, a := row.Open.Latency, row.Added
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %d / %d / %d |\n", row.Name,
			ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999),
			signedMs(a.P50), signedMs(a.P90), signedMs(a.P99), signedMs(a.P999),
			row.Open.Errors, row.Open.Requests, row.Open.Scheduled)
	}

	b.WriteString("\n## Throughput and cost\n\n")
	b.WriteString("| contender | max req/s | proxy CPU s / 1k req (max load) | proxy busy (max load) | proxy CPU s / 1k req (at open-loop rate) | peak RSS at open-loop rate (MiB) | peak RSS (MiB) | log lines | errors (closed loop) | other CPU |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, row := range r.Rows {
		if row.Skipped != "" {
			fmt.Fprintf(&b, "| %s | skipped | | | | | | | | |\n", row.Name)
			continue
		}
		busy := -1.0
		if row.CPUPer1kClosed >= 0 {
			busy = row.Closed.Throughput * row.CPUPer1kClosed / 1000
		}
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %s | %s | %d / %d | %s |\n", row.Name, row.Closed.Throughput,
			cpu(row.CPUPer1kClosed), percent(busy), cpu(row.CPUPer1kOpen), mib(row.PeakRSSOpen), mib(row.PeakRSS), lines(row.LogLines),
			row.Closed.Errors, row.Closed.Requests, percent(row.OtherCPU))
	}
	r.fixedRateTable(&b)
	r.targetsSection(&b)

	b.WriteString("\n## Contenders\n\n")
	for _, row := range r.Rows {
		fmt.Fprintf(&b, "- **%s**: %s", row.Name, row.Description)
		if v := r.Versions[row.Name]; v != "" {
			fmt.Fprintf(&b, " (%s)", v)
		}
		if row.Skipped != "" {
			fmt.Fprintf(&b, ". **Skipped:** %s", row.Skipped)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	if len(charts) > 0 {
		b.WriteString("\n## Charts\n\n")
		for _, c := range charts {
			fmt.Fprintf(&b, "![%s](%s)\n\n", filepath.Base(c), filepath.Base(c))
		}
	}
	b.WriteString(notes)
	return b.String()
}

const notes = `## How to read this

- *added* = contender's percentile minus direct's at the same percentile and rate.
- *sent* below *scheduled* means the load generator could not keep its open-loop schedule (the machine was too busy); such a row under-reports latency.
- *proxy CPU* = utime+stime of the proxy's process tree (workers included) from /proc, over the measured run, per 1,000 requests; resolution 10 ms.
- *peak RSS* = VmHWM summed over the proxy's processes: *at open-loop rate* is read after the open-loop run (start-up, warm-up and the measured run at that rate, before any closed-loop load); the last column after the closed-loop run, so it is the peak under maximum load.
- *log lines* = lines in the contender's access or audit log (on for every proxy but go-reverseproxy, which has none).
- *at N req/s (fixed rate)*: a third run per contender, open loop like the first but at a higher, moderate rate (` + "`-cpu-rate`" + `, 5,000 req/s by default), after the closed-loop run (so that a contender it overloads cannot disturb the other figures): the proxy's CPU per 1,000 requests there (same /proc method) is what it costs under steady load below saturation, where batching helps less than at max load. *errors / sent / scheduled* says whether the load generator kept that schedule; a contender whose max req/s is not above the rate is saturated there too (its latency is then queueing; the row says *rate ≥ max req/s*). Both peak RSS columns are read before this run.
- *proxy busy* = max req/s × CPU per request: how much of its CPU the proxy used at max load. Well below 100 % means the proxy was not CPU-bound but waiting on wake-ups between the two CPUs (on a virtual machine waking an idle CPU is slow), so compare CPU per 1k requests for efficiency.
- *other CPU* = share of the whole machine's CPU that user-space processes outside the benchmark (not the harness or its children) used during the row's measured runs: the noise on a shared machine.
- *Targets*: each line compares two figures of this run (or one with a fixed limit): *ratio* = ambassador ÷ the other, *met* when it is on the right side of the factor in the target. *not measured* means a row or a phase was missing (skipped contender, no direct row for added latency, ` + "`-cpu-rate 0`" + `). *caveats* name what weakens a figure: other work on the machine, errors, a schedule the load generator did not keep, a fixed rate at or above the contender's max req/s. Short runs (bench-quick) are indicative only; judge targets on ` + "`make bench`" + `.
- The load generator and upstream share one CPU: the direct row's max req/s is the load generator's limit, not the upstream's.
`

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/1e6) }

func signedMs(d time.Duration) string { return fmt.Sprintf("%+.3f", float64(d)/1e6) }

func cpu(v float64) string {
	if v < 0 {
		return "–"
	}
	return fmt.Sprintf("%.3f", v)
}

func mib(b int64) string {
	if b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f", float64(b)/(1<<20))
}

func percent(share float64) string {
	if share < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f%%", share*100)
}

func lines(n int) string {
	if n < 0 {
		return "–"
	}
	return fmt.Sprint(n)
}
