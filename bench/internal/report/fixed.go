package report

import (
	"fmt"
	"strings"
)

// fixedRan says whether row has a fixed-rate run to show.
func (r *Run) fixedRan(row Row) bool {
	return r.Settings.CPURate > 0 && row.Skipped == "" && row.Fixed.Scheduled > 0
}

// fixedRateTable writes the CPU per request at the fixed rate next to the
// same figure at the open-loop rate and at max load; nothing when the run
// had no fixed-rate phase.
func (r *Run) fixedRateTable(b *strings.Builder) {
	s := r.Settings
	if s.CPURate <= 0 {
		return
	}
	fmt.Fprintf(b, "\n## CPU per request at a fixed rate of %d req/s\n\n", s.CPURate)
	fmt.Fprintf(b, "| contender | proxy CPU s / 1k req (at %d req/s) | proxy CPU s / 1k req (at %d req/s) | proxy CPU s / 1k req (max load) | proxy busy (at %d req/s) | p50 (ms) | p99 (ms) | errors / sent / scheduled |\n",
		s.Rate, s.CPURate, s.CPURate)
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, row := range r.Rows {
		switch {
		case row.Skipped != "":
			fmt.Fprintf(b, "| %s | skipped | | | | | | |\n", row.Name)
			continue
		case !r.fixedRan(row):
			fmt.Fprintf(b, "| %s | %s | not run | %s | | | | |\n", row.Name, cpu(row.CPUPer1kOpen), cpu(row.CPUPer1kClosed))
			continue
		}
		f := row.Fixed
		busy := -1.0
		if row.CPUPer1kFixed >= 0 {
			busy = f.Throughput * row.CPUPer1kFixed / 1000
		}
		sched := fmt.Sprintf("%d / %d / %d", f.Errors, f.Requests, f.Scheduled)
		if row.Closed.Throughput > 0 && row.Closed.Throughput <= float64(s.CPURate) {
			sched += " (rate ≥ max req/s)"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", row.Name,
			cpu(row.CPUPer1kOpen), cpu(row.CPUPer1kFixed), cpu(row.CPUPer1kClosed), percent(busy),
			ms(f.Latency.P50), ms(f.Latency.P99), sched)
	}
}
