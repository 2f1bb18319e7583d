package report

import (
	"fmt"
	"strings"
)

// The rows the targets compare (names as in internal/contender).
const (
	LocalDoor   = "meshlite-mapping"
	ForwardDoor = "meshlite-forward"
	nginxRow    = "nginx"
	squidRow    = "squid"
	directRow   = "direct"
)

// RSSLimit is the peak RSS target at the open-loop rate, in bytes.
const RSSLimit = 20 << 20

// Target results.
const (
	Met         = "met"
	NotMet      = "not met"
	NotMeasured = "not measured"
)

// TargetCheck is one of the ambassador's performance targets judged from
// this run's figures.
type TargetCheck struct {
	Target string // what is asked, e.g. "local door max req/s ≥ 1.0× nginx"
	Ours   string // the ambassador's figure, labelled with its row
	Theirs string // what it is compared with: a row's figure or a limit
	Ratio  string // Ours / Theirs, "–" when it has no meaning
	Result string // Met, NotMet or NotMeasured
	// Caveats name what makes a figure less trustworthy (noise, errors, a
	// schedule the load generator did not keep); "" = none.
	Caveats string
}

// figure is one number read from a row, or why it is missing.
type figure struct {
	row     string
	value   float64
	unit    string
	missing string // non-empty: not measured, and why
	caveats []string
}

func (f figure) String() string {
	if f.missing != "" {
		return f.row + ": " + f.missing
	}
	return fmt.Sprintf("%s: %s", f.row, f.format())
}

func (f figure) format() string {
	switch f.unit {
	case "req/s":
		return fmt.Sprintf("%.0f req/s", f.value)
	case "cpu":
		return fmt.Sprintf("%.3f CPU s / 1k req", f.value)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", f.value)
	case "ms":
		return fmt.Sprintf("%+.3f ms", f.value)
	}
	return fmt.Sprint(f.value)
}

// Targets judges issue 9's targets with the figures of this run: the local
// door's and the forward door's max req/s against nginx and squid, and the
// local door's CPU per request (at max load and at the fixed rate), peak
// RSS at the open-loop rate and added p99 against nginx or a limit.
func (r *Run) Targets() []TargetCheck {
	rate, fixed := r.Settings.Rate, r.Settings.CPURate
	fixedLabel := "the fixed rate"
	if fixed > 0 {
		fixedLabel = fmt.Sprintf("%d req/s", fixed)
	}
	return []TargetCheck{
		compare("local door max req/s ≥ 1.0× nginx", r.maxRPS(LocalDoor), r.maxRPS(nginxRow), 1.0, true),
		compare("forward door max req/s ≥ 2.0× squid", r.maxRPS(ForwardDoor), r.maxRPS(squidRow), 2.0, true),
		compare("CPU per request at max load ≤ 1.0× nginx", r.cpuMax(LocalDoor), r.cpuMax(nginxRow), 1.0, false),
		compare("CPU per request at "+fixedLabel+" ≤ 1.25× nginx", r.cpuFixed(LocalDoor), r.cpuFixed(nginxRow), 1.25, false),
		compare(fmt.Sprintf("peak RSS at %d req/s ≤ 20 MiB", rate), r.rssOpen(LocalDoor),
			figure{row: "limit", value: float64(RSSLimit) / (1 << 20), unit: "MiB"}, 1.0, false),
		compare(fmt.Sprintf("added p99 at %d req/s ≤ nginx's", rate), r.addedP99(LocalDoor), r.addedP99(nginxRow), 1.0, false),
	}
}

// compare judges ours ≥ k×theirs (atLeast) or ours ≤ k×theirs.
func compare(target string, ours, theirs figure, k float64, atLeast bool) TargetCheck {
	t := TargetCheck{Target: target, Ours: ours.String(), Theirs: theirs.String(), Ratio: "–", Result: NotMeasured}
	if theirs.row == "limit" {
		t.Theirs = "limit: " + theirs.format()
	}
	var caveats []string
	for _, f := range []figure{ours, theirs} {
		caveats = append(caveats, f.caveats...)
	}
	t.Caveats = strings.Join(caveats, "; ")
	if ours.missing != "" || theirs.missing != "" {
		return t
	}
	if theirs.value > 0 {
		t.Ratio = fmt.Sprintf("%.2f×", ours.value/theirs.value)
	}
	met := ours.value <= k*theirs.value
	if atLeast {
		met = ours.value >= k*theirs.value
	}
	t.Result = NotMet
	if met {
		t.Result = Met
	}
	return t
}

// row returns the measured row called name, or a figure saying why not.
func (r *Run) row(name string) (Row, figure) {
	for _, row := range r.Rows {
		if row.Name != name {
			continue
		}
		if row.Skipped != "" {
			return row, figure{row: name, missing: NotMeasured + " (skipped)"}
		}
		f := figure{row: name}
		if row.OtherCPU > NoisyShare {
			f.caveats = append(f.caveats, fmt.Sprintf("%s noisy (other CPU %s)", name, percent(row.OtherCPU)))
		}
		return row, f
	}
	return Row{}, figure{row: name, missing: NotMeasured + " (not in this run)"}
}

func withErrors(f figure, phase string, res int, errs int) figure {
	if errs > 0 {
		f.caveats = append(f.caveats, fmt.Sprintf("%s: %d errors of %d %s", f.row, errs, res, phase))
	}
	return f
}

func behind(f figure, phase string, sent, scheduled int) figure {
	if scheduled > 0 && sent < scheduled {
		f.caveats = append(f.caveats, fmt.Sprintf("%s: %s schedule not kept (%d of %d sent)", f.row, phase, sent, scheduled))
	}
	return f
}

func (r *Run) maxRPS(name string) figure {
	row, f := r.row(name)
	if f.missing != "" {
		return f
	}
	f.value, f.unit = row.Closed.Throughput, "req/s"
	return withErrors(f, "at max load", row.Closed.Requests, row.Closed.Errors)
}

func (r *Run) cpuMax(name string) figure {
	row, f := r.row(name)
	if f.missing != "" {
		return f
	}
	if row.CPUPer1kClosed < 0 {
		f.missing = NotMeasured
		return f
	}
	f.value, f.unit = row.CPUPer1kClosed, "cpu"
	return withErrors(f, "at max load", row.Closed.Requests, row.Closed.Errors)
}

func (r *Run) cpuFixed(name string) figure {
	row, f := r.row(name)
	if f.missing != "" {
		return f
	}
	if !r.fixedRan(row) || row.CPUPer1kFixed < 0 {
		f.missing = NotMeasured + " (no fixed-rate run)"
		return f
	}
	f.value, f.unit = row.CPUPer1kFixed, "cpu"
	phase := fmt.Sprintf("at %d req/s", r.Settings.CPURate)
	f = withErrors(f, phase, row.Fixed.Requests, row.Fixed.Errors)
	f = behind(f, phase, row.Fixed.Requests, row.Fixed.Scheduled)
	if row.Closed.Throughput > 0 && row.Closed.Throughput <= float64(r.Settings.CPURate) {
		f.caveats = append(f.caveats, fmt.Sprintf("%s: max req/s %.0f ≤ the fixed rate (saturated there)", name, row.Closed.Throughput))
	}
	return f
}

func (r *Run) rssOpen(name string) figure {
	row, f := r.row(name)
	if f.missing != "" {
		return f
	}
	if row.PeakRSSOpen <= 0 {
		f.missing = NotMeasured
		return f
	}
	f.value, f.unit = float64(row.PeakRSSOpen)/(1<<20), "MiB"
	return f
}

// addedP99 is the row's open-loop p99 minus direct's, in ms.
func (r *Run) addedP99(name string) figure {
	row, f := r.row(name)
	if f.missing != "" {
		return f
	}
	direct, d := r.row(directRow)
	if d.missing != "" {
		f.missing = NotMeasured + " (no direct row to subtract)"
		return f
	}
	f.value, f.unit = msf(row.Open.Latency.P99-direct.Open.Latency.P99), "ms"
	phase := fmt.Sprintf("at %d req/s", r.Settings.Rate)
	f = withErrors(f, phase, row.Open.Requests, row.Open.Errors)
	return behind(f, phase, row.Open.Requests, row.Open.Scheduled)
}

// targetsSection writes the targets table.
func (r *Run) targetsSection(b *strings.Builder) {
	b.WriteString("\n## Targets\n\n")
	fmt.Fprintf(b, "Issue 9's targets, each judged from this run alone. *Local door* = %s, *forward door* = %s; the CPU, memory and latency targets are the local door's, which does nginx's job.\n\n", LocalDoor, ForwardDoor)
	b.WriteString("| target | ambassador | against | ratio | result | caveats |\n")
	b.WriteString("|---|---|---|--:|---|---|\n")
	for _, t := range r.Targets() {
		result := t.Result
		if result != NotMeasured {
			result = "**" + result + "**"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", t.Target, t.Ours, t.Theirs, t.Ratio, result, t.Caveats)
	}
}
